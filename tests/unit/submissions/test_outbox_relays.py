"""The outbox relays (submissions and notification events) keep going past an entry Kafka
does not take: the others are published in the same pass, the failed one is retried
later with a bounded, growing backoff per entry, later entries of its key wait behind
it (their order is kept), and nothing is lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.backoff import EntryBackoff
from services.notifications.outbox import EventLog
from services.notifications.store import OutboxStore
from services.submissions.service import Unavailable
from tests.fakes.kafka import FakeProducer
from tests.unit.submissions_support import (
    age_outbox,
    all_published,
    intake,
    intake_db,
    request,
    run,
    submissions,
)

A, B, C = "province:an-giang", "province:cao-bang", "province:dien-bien"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entry_backoff_doubles_up_to_its_cap_and_forgets() -> None:
    clock = Clock()
    backoff = EntryBackoff(first=1.0, cap=60.0, limit=3, monotonic=clock)
    assert [backoff.failed("x") for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert not backoff.due("x") and backoff.due("y")
    clock.now += 60
    assert backoff.due("x") and backoff.failures("x") == 9
    backoff.succeeded("x")
    assert backoff.failures("x") == 0
    for name in "abcd":  # bounded: the oldest failure is forgotten (and simply retried)
        backoff.failed(name)
    assert backoff.failures("a") == 0 and backoff.failures("d") == 1
    backoff.retain({"d"})
    assert backoff.waiting() == {"d"}


def test_the_submissions_relay_publishes_past_a_failed_entry_and_retries_it() -> None:
    db = intake_db()
    producer = FakeProducer()
    producer.down = True
    service = intake(db, producer)
    clock = Clock()
    service.relay_backoff = EntryBackoff(first=1.0, cap=60.0, monotonic=clock)
    for unit, key in ((A, "a1"), (B, "b1"), (A, "a2"), (C, "c1")):
        with pytest.raises(Unavailable):  # 503: stored, in the outbox
            run(service.submit(request(unit=unit, notes=key), key))
    stored = {d["idempotency_key"]: d["_id"] for d in submissions(db)}
    assert len(db["outbox"].docs) == 4
    producer.down = False
    producer.failing = {A}
    producer.tries.clear()
    age_outbox(db, 10)
    # Unit A's first entry fails: B and C go out; A's second waits behind its first.
    assert run(service.relay_once(grace_seconds=5)) == 2
    assert producer.ids == [stored["b1"], stored["c1"]]
    assert set(db["outbox"].docs) == {stored["a1"], stored["a2"]}
    assert producer.tries.count(stored["a1"]) == 1 and stored["a2"] not in producer.tries
    # Before its next attempt time the failed entry is not tried again.
    assert run(service.relay_once(grace_seconds=5)) == 0
    assert producer.tries.count(stored["a1"]) == 1
    clock.now += 1.0
    assert run(service.relay_once(grace_seconds=5)) == 0  # tried, failed again: 2 s now
    assert producer.tries.count(stored["a1"]) == 2
    clock.now += 1.0
    run(service.relay_once(grace_seconds=5))
    assert producer.tries.count(stored["a1"]) == 2
    # The partition has a leader again: both of A's entries go out, in order.
    producer.failing = set()
    clock.now += 1.0
    assert run(service.relay_once(grace_seconds=5)) == 2
    assert producer.ids[2:] == [stored["a1"], stored["a2"]]
    assert db["outbox"].docs == {} and all_published(db)
    assert service.relay_backoff.failures(stored["a1"]) == 0


class FakeOutbox(OutboxStore):
    def __init__(self) -> None:  # a dict, not a collection
        self.docs: dict[str, dict[str, Any]] = {}

    async def add(self, doc: dict[str, Any]) -> None:
        self.docs[doc["_id"]] = doc

    async def remove(self, event_id: str) -> None:
        self.docs.pop(event_id, None)

    async def older_than(self, when: datetime, limit: int = 200) -> list[dict[str, Any]]:
        docs = sorted((d for d in self.docs.values() if d["created_at"] <= when),
                      key=lambda d: d["created_at"])
        return docs[:limit]


def _data(unit: str, n: int) -> dict[str, Any]:
    return {"status": "sent", "unit_id": unit, "period": 2026, "stage": "d-7",
            "channel": "email", "recipient": f"{n}@example.org", "attempt": n,
            "movement": "toan-dan"}


def test_the_notifications_relay_publishes_past_a_failed_event_and_retries_it() -> None:
    producer = FakeProducer()
    outbox = FakeOutbox()
    events = EventLog(producer=producer, outbox=outbox,
                      source="urn:test")
    clock = Clock()
    events.relay_backoff = EntryBackoff(first=1.0, cap=60.0, monotonic=clock)
    producer.down = True
    ids = []
    for n, unit in enumerate((A, B, A, C)):
        event_id = f"notif:{n}"
        ids.append(event_id)
        run(events.emit(event_id=event_id, subject=unit, data=_data(unit, n)))
    assert list(outbox.docs) == ids
    for i, doc in enumerate(outbox.docs.values()):
        doc["created_at"] = datetime.now(UTC) - timedelta(seconds=60 - i)
    producer.down = False
    producer.failing = {A}
    producer.tries.clear()
    assert run(events.relay_once()) == 2
    assert producer.ids == ["notif:1", "notif:3"]
    assert list(outbox.docs) == ["notif:0", "notif:2"]
    assert producer.tries == ["notif:0", "notif:1", "notif:3"]  # A's second waits
    assert run(events.relay_once()) == 0 and producer.tries.count("notif:0") == 1
    # A batch full of waiting entries never starves the rest.
    for n in range(4, 8):
        run(outbox.add({"_id": f"notif:{n}", "key": B, "event": outbox.docs["notif:0"]["event"],
                        "created_at": datetime.now(UTC) - timedelta(seconds=30)}))
    assert run(events.relay_once(batch=1)) == 1
    producer.failing = set()
    clock.now += 1.0
    while outbox.docs:
        assert run(events.relay_once(batch=2)) > 0
    assert producer.ids[:2] == ["notif:1", "notif:3"]
    assert producer.ids.index("notif:0") < producer.ids.index("notif:2")
    assert len(producer.ids) == 8
