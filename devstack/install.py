"""Fetches and builds what the local stack runs: Kafka's jars (Maven) and the
MongoDB-wire server (FerretDB embedded in deploy/ferretdb, built with Go)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from devstack.config import KAFKA_VERSION, ROOT, StackConfig
from devstack.procs import StackError


def _run(what: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    print(f"  {what} ...", flush=True)
    result = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})},
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"{what} failed (exit {result.returncode}):\n"
                         f"{(result.stdout + result.stderr)[-3000:]}")


def install_kafka(cfg: StackConfig) -> None:
    marker = cfg.kafka_libs / ".complete"
    if marker.exists():
        return
    if shutil.which("mvn") is None:
        raise StackError("Maven (mvn) is needed to fetch Kafka's jars; install it first")
    cfg.kafka_libs.mkdir(parents=True, exist_ok=True)
    _run(f"fetching Apache Kafka {KAFKA_VERSION} jars with Maven",
         ["mvn", "-B", "-q", "-f", str(ROOT / "deploy/kafka/pom.xml"), "package",
          f"-Dkafka.version={KAFKA_VERSION}", f"-DoutputDirectory={cfg.kafka_libs}"], ROOT)
    if not any(cfg.kafka_libs.glob(f"kafka_2.13-{KAFKA_VERSION}.jar")):
        raise StackError(f"Maven ran but no kafka_2.13-{KAFKA_VERSION}.jar in {cfg.kafka_libs}")
    marker.write_text(KAFKA_VERSION)


FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_SRC = ROOT / "deploy/ferretdb"
# go.sum pins every module's hash; FerretDB's v1 releases are not in the checksum
# database, so only their verification there is skipped (go.sum still checks them).
GO_ENV = {"GONOSUMDB": "github.com/FerretDB", "GOFLAGS": "-mod=mod"}


def ferretdb_inputs() -> list[Path]:
    """Everything the local FerretDB binary is built from: the embedding main, the
    module pins and the project's patches to FerretDB (deploy/ferretdb/README.md)."""
    return [FERRETDB_SRC / "main.go", FERRETDB_SRC / "go.mod", FERRETDB_SRC / "go.sum",
            *sorted((FERRETDB_SRC / "patches").glob("*.patch"))]


def patched_module(module_dir: Path, patches: list[Path], work: Path) -> Path:
    """A writable copy of the pinned FerretDB module (from Go's module cache) with the
    project's patches applied by `git apply`, which fails loudly if a hunk does not
    apply. Nothing of FerretDB's source is committed: only the small diffs are."""
    copy = work / "FerretDB"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(module_dir, copy)
    for path in copy.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    for patch in patches:
        # the ceiling keeps git from finding this checkout's repository above `work`,
        # so it patches plain files
        _run(f"applying {patch.name} to {FERRETDB_MODULE}",
             ["git", "apply", "--verbose", str(patch)], copy,
             env={"GIT_CEILING_DIRECTORIES": str(work)})
    return copy


def install_ferretdb(cfg: StackConfig) -> None:
    inputs = ferretdb_inputs()
    digest = hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in inputs))
    stamp = cfg.ferretdb_bin.with_suffix(".sha256")
    if (cfg.ferretdb_bin.exists() and stamp.exists()
            and stamp.read_text().strip() == digest.hexdigest()):
        return
    if shutil.which("go") is None:
        raise StackError("Go is needed to build the local MongoDB-wire server (FerretDB)")
    cfg.ferretdb_bin.parent.mkdir(parents=True, exist_ok=True)
    _run(f"fetching {FERRETDB_MODULE}", ["go", "mod", "download", FERRETDB_MODULE],
         FERRETDB_SRC, env=GO_ENV)
    module_dir = Path(subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", FERRETDB_MODULE], cwd=FERRETDB_SRC,
        env={**os.environ, **GO_ENV}, capture_output=True, text=True, check=True,
    ).stdout.strip())
    work = cfg.opt / "build" / "ferretdb"
    patched = patched_module(module_dir, inputs[3:], work)
    # the committed go.mod and go.sum, plus a replace of FerretDB by the patched copy,
    # as an alternate module file (go build -modfile): deploy/ferretdb stays untouched
    modfile = work / "go.mod"
    modfile.write_text((FERRETDB_SRC / "go.mod").read_text()
                       + f"\nreplace {FERRETDB_MODULE} => {patched}\n")
    shutil.copyfile(FERRETDB_SRC / "go.sum", work / "go.sum")
    _run("building FerretDB (SQLite backend, the project's patches; the first build takes "
         "minutes)",
         ["go", "build", "-tags", "ferretdb_no_postgresql", f"-modfile={modfile}",
          "-o", str(cfg.ferretdb_bin), "."], FERRETDB_SRC, env=GO_ENV)
    stamp.write_text(digest.hexdigest() + "\n")


def install(cfg: StackConfig) -> None:
    install_kafka(cfg)
    install_ferretdb(cfg)
