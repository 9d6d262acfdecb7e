"""The intake: one function both ways in (HTTP and Kafka) call, so they give the same
result. Nothing is confirmed before it is stored and acknowledged by Kafka."""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from opentelemetry import trace

from services.common import event_types, movements, schemas
from services.common.backoff import MIN_RETRY_AFTER, EntryBackoff, Outages
from services.common.clock import Clock
from services.common.contracts import SubmissionAccepted, SubmissionRequest
from services.common.envelope import Event, new_event, parse_event
from services.common.errors import Refusal
from services.common.faults import FaultPoints
from services.common.kafka import KafkaUnavailable, TransientError
from services.common.mongo import TRANSIENT_ERRORS
from services.common.outbox_relay import publish_in_order
from services.common.ports import BatchProducer
from services.common.topics import SUBMISSIONS
from services.submissions import domain
from services.submissions.domain import Receipt, SubmissionRefused
from services.submissions.metrics import CONFLICTS
from services.submissions.models import Change, Head, OutboxEntry, StoredUnlock, Submission
from services.submissions.registry import Registry
from services.submissions.store import SubmissionStore

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
SOURCE = "urn:emulation:service:submissions"
REQUEST_SCHEMA = "submission-request.v1"
# Seconds after which an outbox entry without its submission is dropped: far longer than a
# write takes, so only a writer that lost its insert or died leaves one that old.
ORPHAN_SECONDS = 300.0
RELAY_BATCH = 100
# How many ids marked published lately a process remembers (acknowledged()).
MARKED_REMEMBERED = 20_000


class DeadlineSource(Protocol):
    async def deadline(self, period: int, movement: str) -> datetime:
        """The units' deadline of the movement's period in force."""


class Unavailable(TransientError):
    """The store or Kafka is down: answer 503; the client retries with the same key after
    `retry_after` seconds."""

    def __init__(self, detail: str, retry_after: int = MIN_RETRY_AFTER) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outcome:
    receipt: Receipt
    replayed: bool


def receipt_of(doc: Submission) -> Receipt:
    """The receipt as stored; the same bytes on every replay (UTC times, deadline in
    Hanoi time, milliseconds as the database keeps them)."""
    return Receipt(
        submission_id=doc["_id"], unit_id=doc["unit_id"], period=doc["period"],
        revision=doc["revision"], on_time=doc["on_time"],
        received_at=doc["received_at"].astimezone(UTC),
        deadline=doc["deadline"].astimezone(domain.VN_TZ), supersedes=doc.get("supersedes"),
        movement=movements.of_event(doc, doc["unit_id"]),
    )


class Intake:
    def __init__(self, *, store: SubmissionStore, producer: BatchProducer, registry: Registry,
                 clock: Clock, faults: FaultPoints | None = None,
                 deadlines: DeadlineSource | None = None) -> None:
        self.store, self.producer, self.registry, self.clock = store, producer, registry, clock
        # An operator's deadlines (services/submissions/deadlines.py); none: the defaults.
        self.deadlines = deadlines
        self.faults = faults  # crashes armed by fault tests only
        # Deliveries queued in the producer and not yet acknowledged, by submission id: a
        # retry or the relay waits for them instead of queueing another copy.
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        # Ids marked published lately by this process: a read that found the document
        # before its mark and asks after it still says accepted (bounded).
        self._marked: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._prepared = False
        self._prepare_lock = asyncio.Lock()
        # Marks as published under way after the answer (`_publish`).
        self._settling: set[asyncio.Task[None]] = set()
        # Since when the store ("mongodb") or Kafka has been failing: the Retry-After of
        # a 503 grows with the outage.
        self.outages = Outages()
        # The outbox relay's next attempt per entry that failed (1 s doubling, at most 60 s).
        self.relay_backoff = EntryBackoff(first=1.0, cap=60.0)

    async def validate(self, body: Any, now: datetime | None = None) -> SubmissionRequest:
        """Schema and registry checks; raise SubmissionRefused naming the fields."""
        found = await schemas.errors_off_loop(REQUEST_SCHEMA, body)
        if found:
            raise SubmissionRefused(
                Refusal.INVALID, "invalid-submission",
                "; ".join(f"{e.field}: {e.message}" for e in found[:5]),
                errors=[e.to_dict() for e in found[:50]])
        request: SubmissionRequest = body  # valid against the request schema now
        domain.check_reporter(self.registry, request, now or self.clock.now())
        return request

    async def submit(self, body: Any, idempotency_key: str | None,
                     arrived_at: datetime | None = None) -> Outcome:
        """`arrived_at`: the real instant the request reached the platform when that was
        earlier than now (the broker's append time on the Kafka way in); the deadline and
        amendment rules judge it by what the platform's clock showed then."""
        with tracer.start_as_current_span("submissions.submit") as span:
            received = self.received_at(arrived_at)
            request = await self.validate(body, received)
            unit_id, period = request["unit_id"], request["period"]
            span.set_attribute("emulation.period", period)
            body_hash = domain.content_hash(request)
            try:
                await self.prepare()
                key = idempotency_key or await self._default_key(unit_id, period, body_hash)
                for _ in range(20):
                    # The key, the head and the unlock at once: one round trip's wait
                    # (a replay reads two documents it does not need).
                    existing, head, unlock = await asyncio.gather(
                        self._by_key(unit_id, key), self.store.head(unit_id, period),
                        self.store.unlock_for(unit_id, period))
                    self.outages.recovered("mongodb")  # it answered
                    if existing is None:
                        doc, event = await self._new_revision(request, key, body_hash,
                                                              received, head, unlock)
                        if await self._store(doc, event):
                            await self._fault("intake-before-answer")
                            return Outcome(receipt_of(doc), replayed=False)
                        # Another request took this revision or this key: find out which.
                        existing = await self._conflict(doc)
                        if existing is None:
                            continue
                    if existing["content_hash"] != body_hash:
                        raise SubmissionRefused(
                            Refusal.CONFLICT, "idempotency-key-reused",
                            "this Idempotency-Key was used with a different body",
                            submission_id=existing["_id"])
                    await self._publish(existing, replay=True)
                    return Outcome(receipt_of(existing), replayed=True)
                raise Unavailable("too much contention on this unit and period; retry")
            except TRANSIENT_ERRORS as exc:
                raise Unavailable(f"the submissions database is unavailable: {exc!r}",
                                  retry_after=self.outages.failed("mongodb")) from exc

    def received_at(self, arrived_at: datetime | None) -> datetime:
        """The platform's time of a request's arrival: now, or the clock's reading at the
        real instant it arrived (never later than now, whatever the broker's clock says)."""
        if arrived_at is None:
            return domain.to_millis(self.clock.now())
        return domain.to_millis(self.clock.at(min(arrived_at, datetime.now(UTC))))

    async def prepare(self) -> None:
        """Once per process: pointers, heads and outbox entries for submissions stored
        before they existed (one scan the first time a database meets this version, then
        one read of a marker)."""
        if self._prepared:
            return
        async with self._prepare_lock:
            if not self._prepared:
                found = await self.store.backfill(datetime.now(UTC))
                if found is not None:
                    log.info("backfilled key pointers, heads and outbox entries",
                             extra={"fields": {"submissions": found}})
                self._prepared = True

    async def _default_key(self, unit_id: str, period: int, body_hash: str) -> str:
        """The key of a request without one. The body of the revision in force, sent
        again, is that revision (a retry: its receipt, replayed); any other body is a new
        revision, an earlier body sent again over a later one included (A, B, A: the
        third is revision 3 and in force). The head is a hint: a revision above it (a
        crash before it was raised) raises it first."""
        for _ in range(20):
            head = await self.store.head(unit_id, period)
            revision = head["revision"] if head else 0
            later = await self.store.by_id(domain.submission_id(unit_id, period, revision + 1))
            if later is not None:
                await self.store.raise_head(later)
                continue
            if head is not None:
                current = await self.store.by_id(
                    domain.submission_id(unit_id, period, revision))
                if current is not None and current["content_hash"] == body_hash:
                    return str(current["idempotency_key"])
            return domain.default_idempotency_key(body_hash, revision)
        raise Unavailable("too much contention on this unit and period; retry")

    async def _by_key(self, unit_id: str, key: str) -> Submission | None:
        pointer = await self.store.key(unit_id, key)
        if pointer is None:
            return None
        doc = await self.store.by_id(pointer["submission_id"])
        # A pointer to a submission that is gone (deleted by hand) points at nothing.
        return doc if doc is not None and doc["idempotency_key"] == key else None

    async def _store(self, doc: Submission, event: Event) -> bool:
        """Outbox entry, then the submission (the claim), then pointer and head beside the
        delivery of `event` (the document's event, as built). False if the revision or the
        key was taken."""
        started = time.monotonic()
        await self.store.pend(doc, datetime.now(UTC))
        if not await self.store.insert(doc):
            return False
        await self._fault("intake-after-write")
        if time.monotonic() - started > ORPHAN_SECONDS / 2:
            # Stalled so long that the relay may have taken the entry for an orphan.
            await self.store.pend(doc, datetime.now(UTC))
        # Pointer and head are hints (a conflict corrects them): written while Kafka acks.
        results = await asyncio.gather(self.store.remember(doc),
                                       self._publish(doc, event=event),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return True

    async def _conflict(self, doc: Submission) -> Submission | None:
        """After a failed insert: the submission this key already made (its pointer and
        the head repaired), or None when another key took the revision (head raised)."""
        unit_id, key = doc["unit_id"], doc["idempotency_key"]
        taken = await self.store.by_id(doc["_id"])
        if taken is not None and taken["idempotency_key"] != key:
            # The head lagged (a concurrent amendment, or a crash before it was raised).
            await self.store.raise_head(taken)
            return None
        if taken is None:
            # The key holds another revision: a concurrent replay whose pointer is being
            # written, or a submission whose pointer a crash (or an older version) never
            # wrote. The pointer first; the scan only when it is really missing.
            taken = await self._by_key(unit_id, key) or await self.store.by_key(unit_id, key)
            if taken is None:
                return None  # gone meanwhile (deleted by hand): start again
        CONFLICTS.inc()
        await self.store.remember(taken)
        return taken

    async def _new_revision(self, body: SubmissionRequest, key: str, body_hash: str,
                            now: datetime, head: Head | None, unlock: StoredUnlock | None
                            ) -> tuple[Submission, Event]:
        """The new revision's document, and its event (also stored in the document)."""
        unit_id, period = body["unit_id"], body["period"]
        movement = movements.movement_of(unit_id)
        deadline = (await self.deadlines.deadline(period, movement) if self.deadlines
                    else domain.deadline_for(period, movement=movement))
        locked = unlock.get("locked_reason") if unlock else None
        if head is not None or locked:
            domain.check_amendment(
                now=now, deadline=deadline, locked=locked,
                unlock_until=unlock.get("expires_at") if unlock and not locked else None)
        changes: list[Change] = []
        supersedes = None
        if head is not None:
            # The head's revision exists (it is raised only after its insert); a lagging
            # head makes this insert conflict, which raises it.
            supersedes = domain.submission_id(unit_id, period, head["revision"])
            previous = await self.store.by_id(supersedes)
            changes = domain.diff(previous["content"] if previous else {}, body)
        revision = (head["revision"] + 1) if head else 1
        sid = domain.submission_id(unit_id, period, revision)
        unit = self.registry.unit(unit_id)
        # A late first report is late; an amendment keeps the first report's timeliness.
        on_time = head["on_time"] if head else domain.is_on_time(now, deadline)
        receipt = Receipt(submission_id=sid, unit_id=unit_id, period=period, revision=revision,
                          on_time=on_time, received_at=now, deadline=deadline,
                          supersedes=supersedes, movement=movement)
        data: SubmissionAccepted = {
            **receipt.to_dict(), "unit_type": unit.type if unit else unit_id.split(":", 1)[0],
            "content": body, "changed_paths": [c["path"] for c in changes]}
        event = new_event(type=event_types.SUBMISSION_ACCEPTED, source=SOURCE, subject=unit_id,
                          schema="submission-accepted", version=2, id=sid, data=data)
        return {
            "_id": sid, "unit_id": unit_id, "period": period, "revision": revision,
            "idempotency_key": key, "content_hash": body_hash, "received_at": now,
            "deadline": deadline, "on_time": on_time, "supersedes": receipt.supersedes,
            "movement": receipt.movement,
            "content": body, "event": event.to_dict(), "published": False,
            "published_at": None, "stored_at": datetime.now(UTC), "changes": changes,
        }, event

    async def _publish(self, doc: Submission, *, settle_now: bool = False,
                       replay: bool = False, event: Event | None = None) -> None:
        """On Kafka (acks=all), then marked published: after the answer, or before
        returning if `settle_now` (the relay, which answers nobody). A `replay` (a stored
        revision asked for again) is published only if still in the outbox."""
        if doc.get("published"):
            return
        sid = doc["_id"]
        if replay and sid not in self._inflight and (
                sid in self._marked or not await self.store.unpublished([sid])):
            return  # a stored revision already out of the outbox: on Kafka
        try:
            fut = self._inflight.get(sid)
            if fut is None or (fut.done() and fut.exception() is not None):
                if event is None:  # a stored revision: its event as stored
                    event = parse_event(json.dumps(doc["event"], ensure_ascii=False,
                                                   default=str))
                await self._fault("intake-before-produce")
                fut = await self.producer.send_nowait(SUBMISSIONS, event, key=doc["unit_id"])
                self._inflight[sid] = fut
                fut.add_done_callback(functools.partial(self._forget, sid))
            await self.producer.confirm(SUBMISSIONS, fut)
        except KafkaUnavailable as exc:
            raise Unavailable(
                "Kafka did not acknowledge the submission; it is stored and will not be lost: "
                "retry with the same Idempotency-Key to get the receipt",
                retry_after=self.outages.failed("kafka")) from exc
        self.outages.recovered("kafka")
        await self._fault("intake-after-produce")
        doc["published"] = True
        if settle_now:
            await self.store.mark_published(sid, datetime.now(UTC))
            self._marked_now(sid)
            return
        # Marked and taken out of the outbox after the answer, with the marks of the
        # requests around it (one write each): on Kafka is what a 202 promises. Until
        # marked, the acknowledged delivery stays in `_inflight`, so a replay or the relay
        # meanwhile finds it delivered and queues no second copy.
        task = asyncio.create_task(self._settle(sid))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, sid: str) -> None:
        try:
            await self.store.mark_published(sid, datetime.now(UTC))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the relay finds the entry and marks it (no new copy)
            log.warning("submission not marked as published yet; the relay will",
                        extra={"fields": {"submission_id": sid, "error": repr(exc)}})
            return
        self._marked_now(sid)

    def _marked_now(self, sid: str) -> None:
        self._marked[sid] = None
        while len(self._marked) > MARKED_REMEMBERED:
            self._marked.popitem(last=False)
        self._inflight.pop(sid, None)

    async def settled(self) -> None:
        """Wait until every acknowledged submission is marked published (tests, shutdown)."""
        while self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)

    def acknowledged(self, sid: str) -> bool:
        """Kafka acknowledged it and the mark as published is under way (or was just
        made: the caller may have read the document before it)."""
        if sid in self._marked:
            return True
        fut = self._inflight.get(sid)
        return fut is not None and fut.done() and not fut.cancelled() \
            and fut.exception() is None

    async def _fault(self, step: str) -> None:
        if self.faults is not None:
            await self.faults.hit(step)

    def _forget(self, sid: str, fut: asyncio.Future[Any]) -> None:
        # A failed delivery is forgotten so the next attempt queues it again; a
        # successful one stays until it is marked published.
        if fut.cancelled() or fut.exception() is not None:
            self._inflight.pop(sid, None)

    async def relay_once(self, grace_seconds: float) -> int:
        """Publish what was stored but not acknowledged (the outbox relay); returns how
        many submissions it published. Reads only the outbox, never the submissions'
        table. An entry Kafka does not take is retried later with backoff (`relay_backoff`)
        and the relay goes on with the others, except later entries of the same unit,
        which keep their order behind it."""
        await self.prepare()
        # Real time, not the campaign clock: the relay is about this process's writes.
        now = datetime.now(UTC)
        older_than = now - timedelta(seconds=grace_seconds)
        pending = await self.store.pending()
        self.relay_backoff.retain({e["_id"] for e in pending})
        entries = sorted((e for e in pending if _aware(e["stored_at"]) <= older_than),
                         key=lambda e: _aware(e["stored_at"]))
        # A unit with an entry waiting for its retry: its later entries wait behind it.
        held = {e["unit_id"] for e in entries if not self.relay_backoff.due(e["_id"])}
        return await publish_in_order(
            entries, publish=lambda e: self._relay_entry(e, now), entry_id=lambda e: e["_id"],
            key=lambda e: e["unit_id"], held=held, backoff=self.relay_backoff,
            batch=RELAY_BATCH, service="submissions", log=log, what="entry",
            id_field="submission_id")

    async def _relay_entry(self, entry: OutboxEntry, now: datetime) -> bool:
        """Publish or drop one outbox entry; True if it published a submission."""
        doc = await self.store.by_id(entry["_id"])
        if doc is None:
            # No submission: its writer lost the insert or died before it. Dropped
            # when old, unless a writer refreshed it meanwhile.
            if _aware(entry["stored_at"]) <= now - timedelta(seconds=ORPHAN_SECONDS):
                await self.store.drop_entry(entry, unless_refreshed=True)
            return False
        if doc.get("published"):  # marked by an older version, entry left by a crash
            await self.store.drop_entry(entry, unless_refreshed=False)
            return False
        await self._publish(doc, settle_now=True)
        return True


def _aware(when: datetime) -> datetime:
    # A client without tz_aware reads naive UTC datetimes.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
