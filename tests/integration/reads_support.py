"""What the read-path tests on the stack share: a listener of the filters the database
was asked, and a median of timed steps."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import monitoring


class Filters(monitoring.CommandListener):
    """(collection, filter) of every find, update and delete sent."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        cmd = event.command
        name = event.command_name
        if name == "find":
            self.seen.append((cmd["find"], dict(cmd.get("filter") or {})))
        elif name == "update":
            self.seen += [(cmd["update"], dict(u["q"])) for u in cmd["updates"]]
        elif name == "delete":
            self.seen += [(cmd["delete"], dict(d["q"])) for d in cmd["deletes"]]

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def scans(self) -> list[tuple[str, dict[str, Any]]]:
        return [(c, f) for c, f in self.seen if "_id" not in f]


async def median_seconds(step: Callable[[int], Awaitable[Any]], n: int) -> float:
    took = []
    for i in range(n):
        started = time.perf_counter()
        await step(i)
        took.append(time.perf_counter() - started)
    return statistics.median(took)
