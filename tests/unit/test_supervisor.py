"""The local supervisor restarts a running service whose /livez failed twice in a row,
and leaves alone one that is live, not answering (starting) or stopped on purpose."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from devstack import supervise
from devstack.config import StackConfig


def test_a_service_failing_livez_twice_is_restarted(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    cfg = StackConfig.from_env()
    running = {"submissions", "scoring", "notifications"}  # reporting is stopped
    monkeypatch.setattr(supervise.parts, "proc", lambda cfg, name: SimpleNamespace(
        pid=lambda: 4242 if name in running else None))
    answers = {cfg.service_url("submissions"): (True, ""),
               cfg.service_url("scoring"): (None, "ConnectionRefusedError()"),
               cfg.service_url("notifications"): (False, "stalled: 300 records wait")}
    restarted: list[str] = []
    dog = supervise.Watchdog(cfg, probe=answers.__getitem__,
                             restart=lambda cfg, name: restarted.append(name))
    assert dog.check() == []  # one failure may be a blip
    assert dog.check() == ["notifications"] and restarted == ["notifications"]
    answers[cfg.service_url("notifications")] = (True, "")
    assert dog.check() == [] and dog.check() == []
    answers[cfg.service_url("notifications")] = (False, "held no partition")
    assert dog.check() == []
    answers[cfg.service_url("notifications")] = (True, "")
    assert dog.check() == []  # the count starts again after a live answer
    answers[cfg.service_url("notifications")] = (False, "held no partition")
    assert dog.check() == [] and restarted == ["notifications"]
