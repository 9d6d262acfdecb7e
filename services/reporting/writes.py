"""The parts of the read models' `_id`-first writes that hold state in this process:
what is known of each stored document (so most events need one round trip, or none)
and the watermark, written when it grows and at most every few hundred milliseconds."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

log = logging.getLogger(__name__)

ATTEMPTS = 4  # reads and writes of one event before it is retried as a transient failure
KNOWN_LIMIT = 50_000  # `_id`s remembered per collection (a few seasons of every unit)
WATERMARK_SECONDS = 0.25  # the watermark document is written at most this often


class Known:
    """What this process last saw stored under each `_id` of one collection, as a bound
    the stored document can only have moved past since: orders only grow, a submission's
    `first_revision` only falls and its `revision` only rises, a kept field (`sent_at`) is
    never unset. So an event within the bound cannot change the document and needs no
    round trip, and one beyond it goes straight to its conditional write. Only dropping
    the collection (a rebuild) breaks the bound: `ReadModel.drop_all` forgets everything,
    and a value read or written across a drop is not remembered (the epoch)."""

    def __init__(self, limit: int = KNOWN_LIMIT) -> None:
        self.limit = limit
        self._values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self._values.get(key)

    def put(self, key: str, value: Any) -> None:
        self._values.pop(key, None)  # the most recently written last: evicted last
        self._values[key] = value
        if len(self._values) > self.limit:
            del self._values[next(iter(self._values))]

    def clear(self) -> None:
        self._values.clear()


def below(stored: Any, new: Any) -> bool:
    """`stored < new` as MongoDB's `$lt` decides it: values of different kinds (or a
    missing one) never match."""
    if isinstance(stored, str) and isinstance(new, str):
        return stored < new
    numbers = (int, float)
    if isinstance(stored, numbers) and isinstance(new, numbers) \
            and not isinstance(stored, bool) and not isinstance(new, bool):
        return stored < new
    return False


class Watermark:
    """`rm_meta.watermark.last_event_at`, the newest event time applied, written only
    when it grows and at most every `seconds` (a timer writes the last rise). Each value
    is taken after its event's writes are done, so the stored time is never newer than
    what the read models reflect: held back, it is only older, for at most `seconds`
    (or until the next event, if the process dies meanwhile)."""

    def __init__(self, coll: AsyncCollection[Any], seconds: float) -> None:
        self.coll, self.seconds = coll, seconds
        self.high: datetime | None = None  # the newest time applied since start or a drop
        self._pending: datetime | None = None  # ... not yet written
        self._writing: datetime | None = None  # ... being written
        self._next = 0.0  # monotonic time of the next write allowed
        self._generation = 0  # bumped by forget(): a failed write from before is dropped
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def advance(self, when: datetime | None) -> None:
        if when is None or (self.high is not None and when <= self.high):
            return
        self.high = self._pending = when
        if time.monotonic() >= self._next:
            await self.flush()
        else:
            self._arm()

    async def flush(self) -> None:
        when, self._pending = self._pending, None
        if when is None:
            return
        self._next, generation = time.monotonic() + self.seconds, self._generation
        self._writing = when
        try:
            await self.coll.update_one({"_id": "watermark"},
                                       {"$max": {"last_event_at": when}}, upsert=True)
        except BaseException:
            if generation == self._generation and (self._pending is None
                                                   or self._pending < when):
                self._pending = when  # written later, unless forgotten meanwhile
                self._arm()
            raise
        finally:
            if self._writing == when:
                self._writing = None

    @property
    def held(self) -> datetime | None:
        """The newest time applied here and not yet known to be written: a report made
        in this process states it (its events are applied), others see it a little later."""
        held = [t for t in (self._pending, self._writing) if t is not None]
        return max(held) if held else None

    def forget(self) -> None:
        self.high = self._pending = self._writing = None
        self._generation += 1

    def _arm(self) -> None:
        """Have a timer write what is pending once the next write is allowed."""
        loop = asyncio.get_running_loop()
        if self._timer is None or self._timer_loop is not loop:  # none, or of a closed loop
            delay = max(0.0, self._next - time.monotonic())
            self._timer, self._timer_loop = loop.call_later(delay, self._fire), loop

    def _fire(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self._flush_later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_later(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # pending again, and the timer armed again
            log.warning("watermark not written, retrying", extra={"fields": {"error": repr(exc)}})
