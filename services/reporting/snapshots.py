"""What the national synthesis of a period is computed from, kept in this process while
nothing it depends on has changed.

The dashboard polls every few seconds per open tab, and computing the synthesis reads
every document of `rm_submissions`, `rm_scores` and `rm_reminders` (FerretDB answers only
an `_id` equality from an index) and the registry. So each process keeps, per period, the
last computation under the key it was made for: the read model's version token of the
period and the registry replica's generation token, both read by `_id` *before* the data.
A writer changes the token after its write, so a key still current means nothing the
computation read has changed since (docs/reporting.md, "The dashboard's cost"). Several
reporting workers each keep their own; the tokens are shared.

Concurrent requests for a key not computed yet share one computation (one lock per
period): the first computes, the others then find it under the key they read again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from services.reporting import metrics

T = TypeVar("T")
Key = tuple[Any, ...]


class Snapshots(Generic[T]):
    def __init__(self) -> None:
        self._entries: dict[int, tuple[Key, T]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self.computed = 0  # computations made (for tests and the metric)

    async def get(self, period: int, key: Callable[[], Awaitable[Key]],
                  compute: Callable[[], Awaitable[T]]) -> T:
        """The value for `period` under the current `key()`, computed if not held."""
        current = await key()
        held = self._entries.get(period)
        if held is not None and held[0] == current:
            metrics.SNAPSHOTS.labels("hit").inc()
            return held[1]
        lock = self._locks.setdefault(period, asyncio.Lock())
        async with lock:
            # Read again: what changed while this waited may already be computed.
            current = await key()
            held = self._entries.get(period)
            if held is not None and held[0] == current:
                metrics.SNAPSHOTS.labels("shared").inc()
                return held[1]
            value = await compute()  # reads the data after the key: never older than it
            self.computed += 1
            metrics.SNAPSHOTS.labels("computed").inc()
            self._entries[period] = (current, value)
            return value

    def forget(self) -> None:
        self._entries.clear()
