"""The benchmarks' own stack: Kafka, FerretDB and the four services started with
devstack on ports derived from BENCH_PORT_BASE (default 26000), with state in
.local/bench-<base>/, and stopped by pid at the end (as tests/stackfixture.py does)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devstack.config import ports_from_base

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASE = 26000


def stack_env(base: int) -> dict[str, str]:
    """The stack's ports from one base; tracing off unless a benchmark turns it on."""
    return {
        **ports_from_base(base, f".local/bench-{base}"),
        "OTEL_TRACES_EXPORTER": "none",
        # The intake runs 16 requests in flight: the service's default limit (8) would
        # answer half of them 429 at once, and the figure would be that churn's.
        "EMULATION_MAX_INFLIGHT_SUBMISSIONS": "16",
    }


@dataclass
class BenchStack:
    base: int
    cfg: Any
    credentials: dict[str, Any]

    @property
    def operator(self) -> str:
        return str(self.credentials["admin"])

    def token(self, unit_id: str) -> str:
        return str(self.credentials["units"][unit_id])

    def url(self, service: str) -> str:
        return str(self.cfg.service_url(service))

    @property
    def bootstrap(self) -> str:
        return str(self.cfg.kafka_bootstrap)

    @property
    def mongo_url(self) -> str:
        return str(self.cfg.mongo_url)

    @property
    def state(self) -> Path:
        return Path(self.cfg.state)

    def port(self, offset: int) -> int:
        """A free port of this stack's range for something the benchmarks start."""
        return self.base + offset

    def set_clock(self, iso: str, services: tuple[str, ...] | None = None) -> None:
        from devstack.config import SERVICES

        for name in services or SERVICES:
            r = httpx.put(self.url(name) + "/v1/admin/clock", json={"now": iso},
                          headers={"Authorization": f"Bearer {self.operator}",
                                   "Audit-Reason": "benchmark clock"}, timeout=30)
            r.raise_for_status()

    def restart(self, service: str, env: dict[str, str | None] | None = None) -> None:
        """Restart one service with its environment changed (None unsets a variable),
        e.g. tracing switched on; devstack passes this process's environment on."""
        from devstack import parts

        self.stop(service)
        saved = {k: os.environ.get(k) for k in (env or {})}
        _apply(env or {})
        try:
            parts.start_service(self.cfg, service)
        finally:
            _apply(saved)

    def start(self, service: str) -> None:
        from devstack import parts

        parts.start_service(self.cfg, service)

    def stop(self, service: str) -> None:
        from devstack import parts

        parts.proc(self.cfg, service).stop()

    def pid(self, service: str) -> int | None:
        from devstack import parts

        pid = parts.proc(self.cfg, service).pid()
        return int(pid) if pid is not None else None


def _apply(env: dict[str, str | None]) -> None:
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@contextlib.contextmanager
def running_stack(base: int = DEFAULT_BASE, keep: bool = False) -> Iterator[BenchStack]:
    """A fresh stack (old data removed) for the duration of the benchmarks."""
    os.environ.update(stack_env(base))
    from devstack import __main__ as cli
    from devstack.config import StackConfig

    cfg = StackConfig.from_env()
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        cli.down(cfg)
    shutil.rmtree(cfg.data, ignore_errors=True)
    shutil.rmtree(cfg.logs, ignore_errors=True)
    started = time.monotonic()
    try:
        try:
            with contextlib.redirect_stdout(said):
                cli.up(cfg)
        except BaseException:
            print(said.getvalue())
            raise
        # The benchmarks' own Kafka clients (bench/kafka_io.py, kafka_tools.py, the faust
        # no-op) connect as the stack's admin principal; each service gets its own.
        from devstack import parts

        os.environ.update(parts.kafka_env(cfg, "admin"))
        stack = BenchStack(base=base, cfg=cfg,
                           credentials=json.loads(cfg.credentials.read_text()))
        print(f"stack on port base {base} up in {time.monotonic() - started:.0f} s "
              f"(state in {cfg.state})", flush=True)
        yield stack
    finally:
        if not keep:
            with contextlib.redirect_stdout(io.StringIO()):
                cli.down(cfg)
