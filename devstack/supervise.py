"""The local stack's watchdog (what Kubernetes' liveness probe is in production): asks
each running service's /livez and restarts one that answered 503 twice in a row. A
service that is not running, or not answering yet, is left alone: stopping one is the
operator's (or a fault test's) business. `make up` starts it; `make down` stops it."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

from devstack import parts
from devstack.config import ROOT, SERVICES, StackConfig

INTERVAL_SECONDS = 15.0
FAILURES_BEFORE_RESTART = 2


def livez(base: str) -> tuple[bool | None, str]:
    """(True, "") if live, (False, why) on 503, (None, why) if there is no answer."""
    try:
        with urllib.request.urlopen(base + "/livez", timeout=5) as resp:
            return bool(resp.status == 200), ""
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            return None, f"HTTP {exc.code}"
        try:
            return False, str(json.loads(exc.read()).get("detail", ""))
        except ValueError:
            return False, "503"
    except OSError as exc:
        return None, repr(exc)


class Watchdog:
    def __init__(self, cfg: StackConfig,
                 probe: Callable[[str], tuple[bool | None, str]] = livez,
                 restart: Callable[[StackConfig, str], None] | None = None) -> None:
        self.cfg, self.probe = cfg, probe
        self.restart = restart or _restart
        self.failures: dict[str, int] = {}

    def check(self) -> list[str]:
        """One round; the names of the services restarted."""
        restarted = []
        for name in SERVICES:
            if parts.proc(self.cfg, name).pid() is None:
                self.failures.pop(name, None)
                continue
            live, why = self.probe(self.cfg.service_url(name))
            if live is not False:
                self.failures.pop(name, None)
                continue
            self.failures[name] = self.failures.get(name, 0) + 1
            _say(f"{name}: /livez failed ({self.failures[name]}/{FAILURES_BEFORE_RESTART}): "
                 f"{why}")
            if self.failures[name] >= FAILURES_BEFORE_RESTART:
                self.restart(self.cfg, name)
                self.failures.pop(name, None)
                restarted.append(name)
                _say(f"{name}: restarted")
        return restarted

    def run(self, interval: float = INTERVAL_SECONDS) -> None:
        _say(f"watching {', '.join(SERVICES)} every {interval:.0f} s")
        while True:
            try:
                self.check()
            except Exception as exc:  # a bad round must not end the watch
                _say(f"round failed: {exc!r}")
            time.sleep(interval)


def _restart(cfg: StackConfig, name: str) -> None:
    parts.proc(cfg, name).stop()
    parts.start_service(cfg, name, wait=False)


def _say(line: str) -> None:
    print(f"{datetime.now(UTC).isoformat(timespec='seconds')} {line}", flush=True)


def start(cfg: StackConfig) -> str:
    p = parts.proc(cfg, "supervisor")
    if p.pid() is not None:
        return "already running"
    p.start([sys.executable, "-m", "devstack", "supervise"], env=dict(os.environ), cwd=ROOT)
    return "started"
