"""How fresh the read models are, as this process writes it: the watermark (the newest
event time applied, written when it grows and at most every few hundred milliseconds)
and each period's version token (replaced after every write the national synthesis
reads)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime

from pymongo.errors import DuplicateKeyError

from services.common.batching import GroupCommit
from services.common.kafka import TransientError
from services.common.mongo import insert_new
from services.common.ports import Collection
from services.reporting.write_cache import ATTEMPTS

log = logging.getLogger(__name__)

VERSION_PREFIX = "version|"  # rm_meta `_id` of a period's version token: version|2026
WATERMARK_SECONDS = 0.25  # the watermark document is written at most this often


class Watermark:
    """`rm_meta.watermark.last_event_at`, the newest event time applied, written only
    when it grows and at most every `seconds` (a timer writes the last rise). Each value
    is taken after its event's writes are done, so the stored time is never newer than
    what the read models reflect: held back, it is only older, for at most `seconds`
    (or until the next event, if the process dies meanwhile)."""

    def __init__(self, coll: Collection, seconds: float) -> None:
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


class Versions:
    """Per period, a version token (`rm_meta`, `_id` = `version|<period>`) that changes
    after every write to what the national synthesis reads of that period
    (`rm_submissions`, `rm_scores`, `rm_reminders`, `rm_proposals`). A reader that finds
    the token it computed a report under may serve that report again: one read by `_id`
    instead of a scan of each collection.

    The token is a fresh random value, replaced whole (never incremented): FerretDB's
    update of one document is not atomic across concurrent writers, but whichever of
    several concurrent replacements lands last, it is a value no reader has seen, written
    after the data writes before it. So the token a reader saw stays unchanged only while
    nothing it read was written since. A write counts (`wrote`) once it has been sent,
    whether it succeeded, failed or changed nothing; `settle` replaces the token if some
    write of the period has not been followed by a replacement yet (a failed replacement
    is made by the event's retry; a process that dies before it leaves the offset
    uncommitted, and the redelivered event's write, sent again, counts again). A dropped
    token (a rebuild) is recreated by the next reader with a new value."""

    def __init__(self, coll: Collection) -> None:
        self.coll = coll
        self._sent: dict[int, int] = {}  # writes sent per period
        self._covered: dict[int, int] = {}  # ... of them followed by a new token
        self._settlements: GroupCommit[int, None] = GroupCommit(
            self._settle_all, window=0.0, max_items=1000)

    @staticmethod
    def key(period: int) -> str:
        return f"{VERSION_PREFIX}{period}"

    def wrote(self, period: int | None) -> None:
        """A write of `period` was sent (call it after the write returned or failed)."""
        if period is not None:
            self._sent[period] = self._sent.get(period, 0) + 1

    async def settle(self, period: int | None) -> None:
        """A new token for `period` if a write sent before now has not been followed by
        one. Settlements asked for together (the events of one batch, handled
        concurrently) share one replacement per period: asked while one is being
        written, a settlement waits for the next, which starts after its write."""
        if period is None or self._sent.get(period, 0) <= self._covered.get(period, 0):
            return
        await self._settlements(period)

    async def _settle_all(self, periods: list[int]) -> list[None]:
        for period in dict.fromkeys(periods):
            await self._replace(period)
        return [None] * len(periods)

    async def _replace(self, period: int) -> None:
        sent = self._sent.get(period, 0)
        if sent <= self._covered.get(period, 0):
            return
        key = self.key(period)
        for _ in range(ATTEMPTS):
            try:
                await self.coll.replace_one(
                    {"_id": key}, {"_id": key, "token": uuid.uuid4().hex}, upsert=True)
            except DuplicateKeyError:
                continue  # two first writers of the token on FerretDB: it exists now
            self._covered[period] = max(self._covered.get(period, 0), sent)
            return
        raise TransientError(f"rm_meta {key} kept changing during the write")

    async def token(self, period: int) -> str:
        """The period's current token, read by `_id`; created if there is none yet."""
        key = self.key(period)
        for _ in range(ATTEMPTS):
            doc = await self.coll.find_one({"_id": key})
            if doc is not None and doc.get("token"):
                return str(doc["token"])
            fresh = uuid.uuid4().hex
            if doc is None and await insert_new(self.coll, {"_id": key, "token": fresh}):
                return fresh
            if doc is not None:  # a token document without a token: replace it
                await self.coll.replace_one({"_id": key}, {"_id": key, "token": fresh})
        raise TransientError(f"rm_meta {key} kept changing during the read")
