"""The intake: one function both ways in (HTTP and Kafka) call, so they give the same
result. Nothing is confirmed before it is stored and acknowledged by Kafka."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace

from services.common import schemas
from services.common.clock import Clock
from services.common.envelope import new_event, parse_event
from services.common.kafka import EventProducer, KafkaUnavailable, TransientError
from services.common.mongo import TRANSIENT_ERRORS
from services.common.topics import SUBMISSIONS
from services.submissions import domain
from services.submissions.domain import Receipt, SubmissionRefused
from services.submissions.registry import Registry
from services.submissions.store import SubmissionStore

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
SOURCE = "urn:emulation:service:submissions"
REQUEST_SCHEMA = "submission-request.v1"


class Unavailable(TransientError):
    """The store or Kafka is down: answer 503; the client retries with the same key."""


@dataclass(frozen=True)
class Outcome:
    receipt: Receipt
    replayed: bool


def receipt_of(doc: dict[str, Any]) -> Receipt:
    """The receipt as stored; the same bytes on every replay (UTC times, deadline in
    Hanoi time, milliseconds as the database keeps them)."""
    return Receipt(
        submission_id=doc["_id"], unit_id=doc["unit_id"], period=doc["period"],
        revision=doc["revision"], on_time=doc["on_time"],
        received_at=doc["received_at"].astimezone(UTC),
        deadline=doc["deadline"].astimezone(domain.VN_TZ), supersedes=doc.get("supersedes"),
    )


class Intake:
    def __init__(self, *, store: SubmissionStore, producer: EventProducer, registry: Registry,
                 clock: Clock) -> None:
        self.store, self.producer, self.registry, self.clock = store, producer, registry, clock
        # Deliveries queued in the producer and not yet acknowledged, by submission id: a
        # retry or the relay waits for them instead of queueing another copy.
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    def validate(self, body: Any) -> dict[str, Any]:
        """Schema and registry checks; raise SubmissionRefused naming the fields."""
        found = schemas.errors(REQUEST_SCHEMA, body)
        if found:
            raise SubmissionRefused(
                422, "invalid-submission",
                "; ".join(f"{e.field}: {e.message}" for e in found[:5]),
                errors=[e.to_dict() for e in found[:50]])
        unit = self.registry.unit(body["unit_id"])
        if unit is None:
            raise SubmissionRefused(422, "unknown-unit", f"unit {body['unit_id']} is not in the "
                                    "registry", errors=[{"field": "unit_id",
                                                        "message": "unknown unit"}])
        if not unit.active_in(body["period"]):
            successor = self.registry.successor_in(unit.unit_id, body["period"])
            hint = f"; it reports as {successor}" if successor else ""
            raise SubmissionRefused(
                422, "unit-not-active",
                f"unit {unit.unit_id} does not exist in period {body['period']}{hint}",
                errors=[{"field": "period", "message": "unit not active in this period"}])
        now = self.clock.now()
        if body["period"] > now.year:
            raise SubmissionRefused(
                422, "period-not-open", f"period {body['period']} has not started",
                errors=[{"field": "period", "message": "a future period"}])
        return body

    async def submit(self, body: dict[str, Any], idempotency_key: str | None) -> Outcome:
        with tracer.start_as_current_span("submissions.submit") as span:
            body = self.validate(body)
            unit_id, period = body["unit_id"], body["period"]
            span.set_attribute("emulation.period", period)
            body_hash = domain.content_hash(body)
            key = idempotency_key or domain.default_idempotency_key(body_hash)
            try:
                for _ in range(20):
                    existing = await self.store.by_key(unit_id, key)
                    if existing is not None:
                        if existing["content_hash"] != body_hash:
                            raise SubmissionRefused(
                                409, "idempotency-key-reused",
                                "this Idempotency-Key was used with a different body",
                                submission_id=existing["_id"])
                        await self._publish(existing)
                        return Outcome(receipt_of(existing), replayed=True)
                    doc = await self._new_revision(body, key, body_hash)
                    if await self.store.insert(doc):
                        await self._publish(doc)
                        return Outcome(receipt_of(doc), replayed=False)
                    # Another request took this revision or this key: look again.
                raise Unavailable("too much contention on this unit and period; retry")
            except TRANSIENT_ERRORS as exc:
                raise Unavailable(f"the submissions database is unavailable: {exc!r}") from exc

    async def _new_revision(self, body: dict[str, Any], key: str, body_hash: str
                            ) -> dict[str, Any]:
        unit_id, period = body["unit_id"], body["period"]
        now = domain.to_millis(self.clock.now())
        deadline = domain.deadline_for(period)
        latest = await self.store.latest(unit_id, period)
        unlock = await self.store.unlock_for(unit_id, period)
        locked = unlock.get("locked_reason") if unlock else None
        if latest is not None or locked:
            domain.check_amendment(
                now=now, deadline=deadline, locked=locked,
                unlock_until=unlock.get("expires_at") if unlock and not locked else None)
        changes: list[dict[str, Any]] = []
        if latest is not None:
            previous = await self.store.by_id(latest["_id"])
            changes = domain.diff(previous["content"] if previous else {}, body)
        revision = (latest["revision"] + 1) if latest else 1
        sid = domain.submission_id(unit_id, period, revision)
        unit = self.registry.unit(unit_id)
        # A late first report is late; an amendment keeps the first report's timeliness.
        on_time = latest["on_time"] if latest else domain.is_on_time(now, deadline)
        receipt = Receipt(submission_id=sid, unit_id=unit_id, period=period, revision=revision,
                          on_time=on_time, received_at=now, deadline=deadline,
                          supersedes=latest["_id"] if latest else None)
        event = new_event(
            type="vn.emulation.submission.accepted", source=SOURCE, subject=unit_id,
            schema="submission-accepted", id=sid,
            data={**receipt.to_dict(), "unit_type": unit.type if unit else "",
                  "content": body, "changed_paths": [c["path"] for c in changes]},
        )
        return {
            "_id": sid, "unit_id": unit_id, "period": period, "revision": revision,
            "idempotency_key": key, "content_hash": body_hash, "received_at": now,
            "deadline": deadline, "on_time": on_time, "supersedes": receipt.supersedes,
            "content": body, "event": event.to_dict(), "published": False,
            "published_at": None, "stored_at": datetime.now(UTC), "changes": changes,
        }

    async def _publish(self, doc: dict[str, Any]) -> None:
        if doc.get("published"):
            return
        sid = doc["_id"]
        try:
            fut = self._inflight.get(sid)
            if fut is None or (fut.done() and fut.exception() is not None):
                event = parse_event(json.dumps(doc["event"], ensure_ascii=False, default=str))
                fut = await self.producer.send_nowait(SUBMISSIONS, event, key=doc["unit_id"])
                self._inflight[sid] = fut
                fut.add_done_callback(functools.partial(self._forget, sid))
            await self.producer.confirm(SUBMISSIONS, fut)
        except KafkaUnavailable as exc:
            raise Unavailable(
                "Kafka did not acknowledge the submission; it is stored and will not be lost: "
                "retry with the same Idempotency-Key to get the receipt") from exc
        await self.store.mark_published(doc["_id"], datetime.now(UTC))
        self._inflight.pop(doc["_id"], None)
        doc["published"] = True

    def _forget(self, sid: str, fut: asyncio.Future[Any]) -> None:
        # A failed delivery is forgotten so the next attempt queues it again; a
        # successful one stays until it is marked published.
        if fut.cancelled() or fut.exception() is not None:
            self._inflight.pop(sid, None)

    async def relay_once(self, grace_seconds: float) -> int:
        """Publish what was stored but not acknowledged (the outbox relay); returns count."""
        # Real time, not the campaign clock: the relay is about this process's writes.
        older_than = datetime.now(UTC) - timedelta(seconds=grace_seconds)
        docs = await self.store.unpublished(older_than)
        for doc in docs:
            await self._publish(doc)
        return len(docs)

