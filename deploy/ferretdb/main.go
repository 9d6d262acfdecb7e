// Command ferretdb-local runs FerretDB's embeddable package with its SQLite
// backend, as the local MongoDB-wire server of the no-Docker stack.
//
// FerretDB's own cmd/ferretdb panics on missing version files when it is built
// outside its repository, so the project embeds the library instead.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data", ".local/ferretdb", "directory of the SQLite databases")
	// SQLite's synchronous setting of every connection. In WAL mode "normal" keeps every
	// committed write across a crash of any process (FerretDB's included) and may lose
	// the last ones only if the machine itself stops (power loss, kernel panic); "full"
	// waits for the disk (fsync) at each commit, which on a shared disk caps the whole
	// server at a few hundred writes per second.
	synchronous := flag.String("synchronous", "full", `"full" or "normal"`)
	// Go's garbage collector runs when the heap has grown by this percentage since the
	// last collection (GOGC). FerretDB's heap is small and its garbage is per request
	// (decoded documents): 400 instead of Go's 100 takes a tenth to a fifth of its CPU
	// back for a few tens of MB. The GOGC environment variable, when set, wins.
	gcPercent := flag.Int("gc-percent", 400, "GOGC unless the environment sets it")
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(*gcPercent)
	}
	if *synchronous != "full" && *synchronous != "normal" {
		log.Fatalf("-synchronous must be full or normal, not %q", *synchronous)
	}

	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		log.Fatalf("data dir: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatalf("data dir: %v", err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/?_pragma=synchronous(" + *synchronous + ")",
	})
	if err != nil {
		log.Fatalf("ferretdb: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	log.Printf("ferretdb listening on %s, data in %s", *listen, dir)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatalf("ferretdb: %v", err)
	}
	log.Printf("ferretdb stopped")
}
