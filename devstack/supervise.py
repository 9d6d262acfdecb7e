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
from dataclasses import dataclass
from datetime import UTC, datetime

from devstack import parts
from devstack.config import ROOT, SERVICES, StackConfig
from devstack.procs import Proc

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


@dataclass
class Target:
    """A process to watch: its pid file, its base URL, and how to start it afresh."""

    name: str
    proc: Proc
    url: str
    restart: Callable[[], None]


def stack_targets(cfg: StackConfig) -> list[Target]:
    def restart(name: str) -> Callable[[], None]:
        def again() -> None:
            parts.proc(cfg, name).stop()
            parts.start_service(cfg, name, wait=False)
        return again

    return [Target(name, parts.proc(cfg, name), cfg.service_url(name), restart(name))
            for name in SERVICES]


class Watchdog:
    def __init__(self, targets: list[Target],
                 probe: Callable[[str], tuple[bool | None, str]] = livez) -> None:
        self.targets, self.probe = targets, probe
        self.failures: dict[str, int] = {}

    def check(self) -> list[str]:
        """One round; the names of the processes restarted."""
        restarted = []
        for target in self.targets:
            name = target.name
            if target.proc.pid() is None:
                self.failures.pop(name, None)
                continue
            live, why = self.probe(target.url)
            if live is not False:
                self.failures.pop(name, None)
                continue
            self.failures[name] = self.failures.get(name, 0) + 1
            _say(f"{name}: /livez failed ({self.failures[name]}/{FAILURES_BEFORE_RESTART}): "
                 f"{why}")
            if self.failures[name] >= FAILURES_BEFORE_RESTART:
                target.restart()
                self.failures.pop(name, None)
                restarted.append(name)
                _say(f"{name}: restarted")
        return restarted

    def run(self, interval: float = INTERVAL_SECONDS) -> None:
        _say(f"watching {', '.join(t.name for t in self.targets)} every {interval:.0f} s")
        while True:
            try:
                self.check()
            except Exception as exc:  # a bad round must not end the watch
                _say(f"round failed: {exc!r}")
            time.sleep(interval)


def _say(line: str) -> None:
    print(f"{datetime.now(UTC).isoformat(timespec='seconds')} {line}", flush=True)


def start(cfg: StackConfig) -> str:
    p = parts.proc(cfg, "supervisor")
    if p.pid() is not None:
        return "already running"
    p.start([sys.executable, "-m", "devstack", "supervise"], env=dict(os.environ), cwd=ROOT)
    return "started"
