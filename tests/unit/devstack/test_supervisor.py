"""The local supervisor restarts a running service whose /livez failed twice in a row,
and leaves alone one that is live, not answering (starting) or stopped on purpose."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from devstack import supervise


def target(name: str, running: bool, restarted: list[str]) -> supervise.Target:
    proc: Any = SimpleNamespace(pid=lambda: 4242 if running else None)
    return supervise.Target(name, proc, f"http://{name}", lambda: restarted.append(name))


def test_a_service_failing_livez_twice_is_restarted() -> None:
    restarted: list[str] = []
    targets = [target("submissions", True, restarted), target("scoring", True, restarted),
               target("notifications", True, restarted),
               target("reporting", False, restarted)]  # stopped on purpose
    answers = {"http://submissions": (True, ""),
               "http://scoring": (None, "ConnectionRefusedError()"),
               "http://notifications": (False, "stalled: 300 records wait"),
               "http://reporting": (False, "never asked")}
    dog = supervise.Watchdog(targets, probe=answers.__getitem__)
    assert dog.check() == []  # one failure may be a blip
    assert dog.check() == ["notifications"] and restarted == ["notifications"]
    answers["http://notifications"] = (True, "")
    assert dog.check() == [] and dog.check() == []
    answers["http://notifications"] = (False, "held no partition")
    assert dog.check() == []
    answers["http://notifications"] = (True, "")
    assert dog.check() == []  # the count starts again after a live answer
    answers["http://notifications"] = (False, "held no partition")
    assert dog.check() == [] and restarted == ["notifications"]
