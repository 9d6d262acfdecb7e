"""Rebuilds the read models from the topics: drop them, then replay every topic from
the beginning up to the end offsets captured at the start, through the same handlers
the live agents use, with a consumer of its own (no group, nothing committed).

The live agents keep running meanwhile. That is safe because every read-model write is
idempotent and order-insensitive (see store.py), and because the drop happens before
the end offsets are captured: whatever a live agent wrote before the drop is replayed,
whatever it writes after the drop stays."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

from aiokafka.errors import KafkaError
from opentelemetry import trace

from services.common.envelope import Event
from services.common.kafka import (
    BoundedReplay,
    Handler,
    Rejected,
    ReplayRecord,
    TransientError,
    decode_record,
    gather_or_cancel,
)
from services.common.kafka_auth import KafkaAuth
from services.common.mongo import TRANSIENT_ERRORS
from services.common.progress import Progress, silent
from services.reporting import metrics
from services.reporting.store import ReadModel

log = logging.getLogger(__name__)
RETRYABLE: tuple[type[Exception], ...] = (*TRANSIENT_ERRORS, TransientError)
tracer = trace.get_tracer(__name__)


class RebuildError(RuntimeError):
    """The rebuild could not finish (Kafka or the database away, or too slow); the read
    models are incomplete until a rebuild succeeds."""


class RebuildRunning(RebuildError):
    """A rebuild is already running in this process."""


class RebuildSummary(TypedDict):
    """A rebuild's result (the job's, the CLI's, its log line)."""
    started_at: str
    finished_at: str
    seconds: float
    end_offsets: dict[str, int]
    applied: dict[str, int]
    skipped: dict[str, int]
    skipped_reasons: dict[str, int]


@dataclass
class RebuildResult:
    started_at: str
    finished_at: str = ""
    seconds: float = 0.0
    end_offsets: dict[str, int] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> RebuildSummary:
        return RebuildSummary(started_at=self.started_at, finished_at=self.finished_at,
                              seconds=self.seconds, end_offsets=dict(self.end_offsets),
                              applied=dict(self.applied), skipped=dict(self.skipped),
                              skipped_reasons=dict(self.skipped_reasons))


CONCURRENCY = 200  # keys replayed at the same time (as the live agents: a wave, one bulk write)
# Records of one fetch: a larger fetch folds more of one key's revisions into one write.
FETCH_RECORDS = 5000
Fold = Callable[[list[Event]], list[Event]]


class Rebuilder:
    def __init__(self, *, bootstrap: str, model: ReadModel, handlers: dict[str, Handler],
                 documents: list[Any], timeout: float = 300.0,
                 transient_retries: int = 8, auth: KafkaAuth | None = None,
                 folds: Mapping[str, Fold] | None = None) -> None:
        """`folds[topic]`: of one key's records of a fetch (decoded, in order), those
        whose effect the others do not contain (the rest are counted as applied)."""
        self.bootstrap, self.model, self.handlers = bootstrap, model, handlers
        self.folds = dict(folds or {})
        self.auth = auth or KafkaAuth()
        self.documents, self.timeout = documents, timeout
        self.transient_retries = transient_retries
        self._lock = asyncio.Lock()
        self._progress: Progress = silent

    @property
    def running(self) -> bool:
        return self._lock.locked()

    async def run(self, progress: Progress | None = None) -> RebuildResult:
        """`progress(stage, done, total)`: records replayed of those to replay."""
        if self._lock.locked():
            raise RebuildRunning("a rebuild is already running")
        self._progress = progress or silent
        async with self._lock:
            started = time.monotonic()
            with tracer.start_as_current_span("reporting.rebuild") as span:
                try:
                    result = await self._run(started)
                except Exception:
                    metrics.REBUILDS.labels("failed").inc()
                    raise
                span.set_attribute("emulation.records", sum(result.applied.values()))
            metrics.REBUILDS.labels("succeeded").inc()
            metrics.REBUILD_SECONDS.observe(result.seconds)
            log.info("read models rebuilt", extra={"fields": result.to_dict()})
            return result

    async def _run(self, started: float) -> RebuildResult:
        result = RebuildResult(started_at=datetime.now(UTC).isoformat())
        try:
            await self.model.drop_all(self.documents)
        except TRANSIENT_ERRORS as exc:
            raise RebuildError(f"the reporting database is unavailable: {exc!r}") from exc
        limit = max(0.0, self.timeout - (time.monotonic() - started))
        try:
            async with BoundedReplay(self.bootstrap, self.handlers, client_id="reporting-rebuild",
                                     limit_seconds=limit, auth=self.auth,
                                     max_records=FETCH_RECORDS) as replay:
                for tp, offset in replay.end_offsets.items():
                    result.end_offsets[tp.topic] = result.end_offsets.get(tp.topic, 0) + offset
                await self._replay(replay, result)
        except TimeoutError as exc:
            raise RebuildError(f"not finished after {self.timeout:.0f} s: {exc}") from exc
        except (KafkaError, OSError) as exc:
            raise RebuildError(f"Kafka failed during the replay: {exc!r}") from exc
        try:
            await self.model.flush()  # the watermark is written at most every few 100 ms
        except TRANSIENT_ERRORS as exc:
            raise RebuildError(f"the reporting database is unavailable: {exc!r}") from exc
        result.seconds = round(time.monotonic() - started, 3)
        result.finished_at = datetime.now(UTC).isoformat()
        return result

    async def _replay(self, replay: BoundedReplay, result: RebuildResult) -> None:
        total, done = sum(replay.end_offsets.values()), 0
        self._progress("replaying", 0, total)
        async for batch in replay.batches():
            # One key's records in order, different keys together (as the live loop).
            by_key: dict[tuple[str, Any], list[ReplayRecord]] = {}
            for tp, records in batch.items():
                for record in records:
                    by_key.setdefault((tp.topic, record.key), []).append(record)
                    done += 1
            slots = asyncio.Semaphore(CONCURRENCY)
            await gather_or_cancel(self._in_order(slots, topic, records, result)
                                   for (topic, _), records in by_key.items())
            self._progress("replaying", done, total)

    async def _in_order(self, slots: asyncio.Semaphore, topic: str, records: list[ReplayRecord],
                        result: RebuildResult) -> None:
        async with slots:
            events: list[Event] = []
            for record in records:
                try:
                    events.append(decode_record(record.value, record.headers))
                except Rejected as exc:
                    self._skipped(topic, exc, result)
            fold = self.folds.get(topic)
            kept = fold(events) if fold is not None and len(events) > 1 else events
            self._count(topic, "folded", len(events) - len(kept), result)
            for event in kept:
                try:
                    await self._call(self.handlers[topic], event)
                except Rejected as exc:
                    self._skipped(topic, exc, result)
                    continue
                self._count(topic, "applied", 1, result)

    @staticmethod
    def _count(topic: str, outcome: str, n: int, result: RebuildResult) -> None:
        if n:
            # A folded record's effect is in a record of its fetch that is applied.
            result.applied[topic] = result.applied.get(topic, 0) + n
            metrics.REBUILD_RECORDS.labels(topic, outcome).inc(n)

    @staticmethod
    def _skipped(topic: str, exc: Rejected, result: RebuildResult) -> None:
        # Already dead-lettered when it first arrived: counted, not sent again.
        result.skipped[topic] = result.skipped.get(topic, 0) + 1
        reasons = Counter(result.skipped_reasons)
        reasons[exc.reason] += 1
        result.skipped_reasons = dict(reasons)
        metrics.REBUILD_RECORDS.labels(topic, "skipped").inc()

    async def _call(self, handler: Handler, event: Event) -> None:
        failures = 0
        while True:
            try:
                await handler(event)
                return
            except Rejected:
                raise
            except RETRYABLE as exc:
                failures += 1
                if failures > self.transient_retries:
                    raise RebuildError(f"the database stayed unavailable: {exc!r}") from exc
                await asyncio.sleep(min(0.2 * 2 ** failures, 5.0))
            except Exception as exc:
                log.exception("rebuild handler failed", extra={"fields": {"event_id": event.id}})
                raise Rejected("handler-error", repr(exc)[:500]) from exc
