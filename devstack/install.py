"""Fetches and builds what the local stack runs: Kafka's jars (Maven) and the
MongoDB-wire server (FerretDB embedded in deploy/ferretdb, built with Go)."""

from __future__ import annotations

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


def install_ferretdb(cfg: StackConfig) -> None:
    src = ROOT / "deploy/ferretdb"
    sources = [src / "main.go", src / "go.mod", src / "go.sum"]
    newest = max(p.stat().st_mtime for p in sources)
    if cfg.ferretdb_bin.exists() and cfg.ferretdb_bin.stat().st_mtime >= newest:
        return
    if shutil.which("go") is None:
        raise StackError("Go is needed to build the local MongoDB-wire server (FerretDB)")
    cfg.ferretdb_bin.parent.mkdir(parents=True, exist_ok=True)
    # go.sum pins every module's hash; FerretDB v1.24.1 is not in the checksum
    # database, so only its verification there is skipped (go.sum still checks it).
    _run("building FerretDB v1.24.1 (SQLite backend; the first build takes minutes)",
         ["go", "build", "-tags", "ferretdb_no_postgresql", "-o", str(cfg.ferretdb_bin), "."],
         src, env={"GONOSUMDB": "github.com/FerretDB", "GOFLAGS": "-mod=mod"})


def install(cfg: StackConfig) -> None:
    install_kafka(cfg)
    install_ferretdb(cfg)
