"""The intake's storage protocol over an in-memory database that behaves like the local
FerretDB where it matters (per-document atomic writes, unique `_id` and unique
(unit_id, idempotency_key)): replays and revisions found by `_id`, the outbox relay reading
only the outbox, crashes between any two writes losing and blocking nothing, concurrent
requests never sharing a revision, and the backfill of data stored before."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.clock import ControlledClock
from services.common.errors import Refusal
from services.submissions import domain
from services.submissions.domain import SubmissionRefused
from services.submissions.service import ORPHAN_SECONDS, Intake, Unavailable
from services.submissions.store import BACKFILL_MARKER
from tests.fakes.kafka import FakeProducer
from tests.fakes.mongo import Crash
from tests.unit.submissions_support import (
    AFTER_ANSWER,
    age_outbox,
    all_published,
    intake,
    intake_db,
    request,
    run,
    sid,
    submissions,
)


async def submit_and_settle(service: Intake, body: dict[str, Any], key: str) -> Any:
    """A request's answer, once its marks made after the answer are done too."""
    outcome = await service.submit(body, key)
    await service.settled()
    return outcome


def test_a_new_submission_and_its_replay_use_only_id_lookups() -> None:
    db = intake_db()
    service = intake(db)
    first = run(service.submit(request(), "k1"))
    db.calls.clear()
    again = run(service.submit(request(), "k1"))
    assert again.replayed and again.receipt == first.receipt
    assert {shape for _, _, shape in db.shapes()} == {("_id",)}
    db.calls.clear()
    second = run(service.submit(request(notes="b"), "k2"))
    assert second.receipt.revision == 2
    assert second.receipt.supersedes == first.receipt.submission_id
    assert {shape for _, _, shape in db.shapes()} == {("_id",)}
    assert db["submission_heads"].docs["province:quang-ninh|2026"]["revision"] == 2
    assert db["outbox"].docs == {}
    assert all_published(db)


def test_same_key_with_another_body_conflicts() -> None:
    db = intake_db()
    service = intake(db)
    run(service.submit(request(), "k1"))
    with pytest.raises(Exception) as refused:
        run(service.submit(request(notes="other"), "k1"))
    assert getattr(refused.value, "code", "") == "idempotency-key-reused"


def test_concurrent_identical_requests_make_one_revision() -> None:
    db = intake_db()
    service = intake(db)

    async def both() -> list[Any]:
        return list(await asyncio.gather(*(service.submit(request(), "same")
                                           for _ in range(4))))

    outcomes = run(both())
    assert len(submissions(db)) == 1
    assert {o.receipt.submission_id for o in outcomes} == {sid(1)}
    assert sorted(o.replayed for o in outcomes) == [False, True, True, True]


def test_concurrent_amendments_never_share_or_lose_a_revision() -> None:
    db = intake_db()
    service = intake(db)

    async def many() -> list[Any]:
        return list(await asyncio.gather(*(service.submit(request(notes=str(i)), f"k{i}")
                                           for i in range(6))))

    outcomes = run(many())
    assert sorted(o.receipt.revision for o in outcomes) == [1, 2, 3, 4, 5, 6]
    assert [d["revision"] for d in submissions(db)] == [1, 2, 3, 4, 5, 6]
    assert db["submission_heads"].docs["province:quang-ninh|2026"]["revision"] == 6
    assert {d["idempotency_key"] for d in submissions(db)} == {f"k{i}" for i in range(6)}


@pytest.mark.parametrize("crash_at", [
    ("outbox", "insert_one"),  # outbox entry written, nothing else
    ("submissions", "insert_one"),  # died before the submission
    ("submission_keys", "insert_one"),  # stored, no pointer, no head, not published
    ("submission_heads", "insert_one"),  # stored with its pointer, head lagging
    ("outbox", "delete_one"),  # answered (on Kafka), entry left behind: not marked
])
def test_a_crash_between_any_two_writes_loses_and_blocks_nothing(
        crash_at: tuple[str, str]) -> None:
    db = intake_db()
    producer = FakeProducer()
    run(intake(db, producer).submit(request(notes="first"), "k0"))
    db.crash_at = crash_at
    crashed = intake(db, producer)
    if crash_at in AFTER_ANSWER:  # the 202 went out; the process dies marking it
        answered = run(submit_and_settle(crashed, request(), "k1"))
        assert answered.receipt.revision == 2 and db.crash_at is None
    else:
        with pytest.raises(Crash):
            run(crashed.submit(request(), "k1"))
    # The client retries with its key, and another amendment comes, in a new process.
    after = intake(db, producer)
    retried = run(after.submit(request(), "k1"))
    other = run(after.submit(request(notes="next"), "k2"))
    assert retried.receipt.revision == 2 and other.receipt.revision == 3
    assert [d["idempotency_key"] for d in submissions(db)] == ["k0", "k1", "k2"]
    assert db["submission_heads"].docs["province:quang-ninh|2026"]["revision"] == 3
    assert run(after.submit(request(), "k1")).receipt == retried.receipt
    # Whatever the relay finds it publishes or drops; in the end nothing is pending.
    age_outbox(db, ORPHAN_SECONDS + 1)
    run(after.relay_once(grace_seconds=5))
    assert all_published(db)
    assert db["outbox"].docs == {}
    assert set(producer.ids) >= {d["_id"] for d in submissions(db)}


def test_a_stored_submission_kafka_refused_is_published_by_the_relay() -> None:
    db = intake_db()
    producer = FakeProducer()
    producer.down = True
    service = intake(db, producer)
    with pytest.raises(Unavailable):
        run(service.submit(request(), "k1"))
    assert list(db["outbox"].docs) == [sid(1)]
    assert run(service.relay_once(grace_seconds=5)) == 0  # too young: its writer may retry
    producer.down = False
    age_outbox(db, 10)
    db.calls.clear()
    assert run(service.relay_once(grace_seconds=5)) == 1
    assert producer.ids == [sid(1)]
    assert db["outbox"].docs == {} and all_published(db)
    assert ("submissions", "find", ()) not in db.shapes()
    assert {c for c in db.shapes() if c[1] == "find"} == {("outbox", "find", ())}


def test_the_relay_drops_an_old_orphan_entry_but_not_a_refreshed_one() -> None:
    db = intake_db()
    service = intake(db)
    old = datetime.now(UTC) - timedelta(seconds=ORPHAN_SECONDS + 5)
    db["outbox"].docs["u.r1"] = {"_id": "u.r1", "unit_id": "u", "stored_at": old}
    db["outbox"].docs["u.r2"] = {"_id": "u.r2", "unit_id": "u",
                                      "stored_at": datetime.now(UTC) - timedelta(seconds=30)}

    def refreshed_meanwhile(op: str, flt: dict[str, Any]) -> None:
        if op == "find":  # once the relay has read the entries
            db["outbox"].docs["u.r1"] = {"_id": "u.r1", "unit_id": "u",
                                         "stored_at": datetime.now(UTC)}

    db["outbox"].after = refreshed_meanwhile
    run(service.relay_once(grace_seconds=5))
    assert set(db["outbox"].docs) == {"u.r1", "u.r2"}
    db["outbox"].after = None
    age_outbox(db, ORPHAN_SECONDS + 1)
    run(service.relay_once(grace_seconds=5))
    assert db["outbox"].docs == {}


def test_submissions_stored_before_are_backfilled_once() -> None:
    db = intake_db()
    producer = FakeProducer()
    run(intake(db, producer).submit(request(notes="1"), "old1"))
    run(intake(db, producer).submit(request(notes="2"), "old2"))
    # As an older version left them: no pointers, heads, outbox or marker; one unpublished.
    for name in ("submission_keys", "submission_heads", "outbox", "submission_markers"):
        db[name].docs.clear()
    db["submissions"].docs[sid(1)]["published"] = True  # older versions marked it so
    db["submissions"].docs[sid(2)]["published"] = False
    stored_at = datetime.now(UTC) - timedelta(minutes=5)
    db["submissions"].docs[sid(2)]["stored_at"] = stored_at
    producer.records.clear()
    service = intake(db, producer)
    assert run(service.relay_once(grace_seconds=5)) == 1
    assert producer.ids == [sid(2)]
    assert db["submission_markers"].docs[BACKFILL_MARKER]["submissions"] == 2
    db.calls.clear()
    replay = run(service.submit(request(notes="1"), "old1"))
    assert replay.replayed and replay.receipt.revision == 1
    assert run(service.submit(request(notes="3"), "new")).receipt.revision == 3
    assert {shape for _, _, shape in db.shapes()} == {("_id",)}
    # A new process reads the marker, not the submissions.
    db.calls.clear()
    run(intake(db, producer).relay_once(grace_seconds=5))
    assert ("submissions", "find", ()) not in db.shapes()


def test_a_key_whose_pointer_is_missing_is_found_through_the_unique_index() -> None:
    db = intake_db()
    service = intake(db)
    first = run(service.submit(request(), "k1"))
    run(service.submit(request(notes="b"), "k2"))
    db["submission_keys"].docs.clear()  # as if an older version stored them
    again = run(service.submit(request(), "k1"))
    assert again.replayed and again.receipt == first.receipt
    assert len(submissions(db)) == 2
    assert "province:quang-ninh|k1" in db["submission_keys"].docs


def test_on_time_and_supersedes_come_from_the_head() -> None:
    db = intake_db()
    clock = ControlledClock()
    clock.set(datetime(2026, 11, 20, 9, tzinfo=UTC))
    service = intake(db, clock=clock)
    first = run(service.submit(request(), "k1"))
    assert first.receipt.on_time
    clock.set(datetime(2026, 12, 5, tzinfo=UTC))
    head = db["submission_heads"].docs["province:quang-ninh|2026"]
    assert head == {"_id": "province:quang-ninh|2026", "unit_id": "province:quang-ninh",
                    "period": 2026, "revision": 1, "on_time": True}
    with pytest.raises(SubmissionRefused) as refused:  # after the deadline: needs an unlock
        run(service.submit(request(notes="late"), "k2"))
    assert (refused.value.kind, refused.value.code) == (Refusal.CONFLICT, "deadline-passed")
    assert sid(1) == first.receipt.submission_id


def test_without_a_key_an_earlier_body_sent_again_is_a_new_revision() -> None:
    db = intake_db()
    service = intake(db)
    a, b = request(notes="a"), request(notes="b")
    first = run(service.submit(a, None))
    retry = run(service.submit(a, None))
    assert retry.replayed and retry.receipt == first.receipt  # a retry is deduplicated
    assert run(service.submit(b, None)).receipt.revision == 2
    third = run(service.submit(a, None))
    assert not third.replayed and third.receipt.revision == 3  # A, B, A: A is in force
    assert third.receipt.supersedes == sid(2)
    again = run(service.submit(a, None))
    assert again.replayed and again.receipt == third.receipt
    assert [d["content"]["notes"] for d in submissions(db)] == ["a", "b", "a"]
    assert db["submission_heads"].docs["province:quang-ninh|2026"]["revision"] == 3


def test_without_a_key_concurrent_identical_requests_make_one_revision() -> None:
    db = intake_db()
    service = intake(db)
    run(service.submit(request(notes="a"), None))
    run(service.submit(request(notes="b"), None))

    async def both() -> list[Any]:
        return list(await asyncio.gather(*(service.submit(request(notes="a"), None)
                                           for _ in range(4))))

    outcomes = run(both())
    assert {o.receipt.submission_id for o in outcomes} == {sid(3)}
    assert len(submissions(db)) == 3


def test_without_a_key_a_lagging_head_is_raised_before_deciding() -> None:
    db = intake_db()
    service = intake(db)
    run(service.submit(request(notes="a"), None))
    run(service.submit(request(notes="b"), None))
    # A crash before the head was raised: the head still says revision 1 (body A).
    db["submission_heads"].docs["province:quang-ninh|2026"]["revision"] = 1
    third = run(service.submit(request(notes="a"), None))
    assert not third.replayed and third.receipt.revision == 3


def test_a_body_stored_under_the_former_keyless_key_is_still_its_retry() -> None:
    db = intake_db()
    service = intake(db)
    former_key = f"content:{domain.content_hash(request(notes='a'))}"
    first = run(service.submit(request(notes="a"), former_key))
    retry = run(service.submit(request(notes="a"), None))
    assert retry.replayed and retry.receipt == first.receipt


def test_a_submission_belongs_to_its_units_movement_and_another_is_refused() -> None:
    """Issue 14: police units report in vi-an-ninh, every other unit in toan-dan; an
    explicit movement must be the unit's own (422 names the field, nothing is stored)."""
    db = intake_db()
    service = intake(db)
    police = run(service.submit({**request("police:quang-ninh"), "movement": "vi-an-ninh"},
                                "k1"))
    province = run(service.submit(request(), "k2"))
    assert (police.receipt.movement, province.receipt.movement) == ("vi-an-ninh", "toan-dan")
    events = {d["unit_id"]: d["event"] for d in submissions(db)}
    assert events["police:quang-ninh"]["data"]["movement"] == "vi-an-ninh"
    assert events["police:quang-ninh"]["dataschema"].endswith("submission-accepted:v2")
    with pytest.raises(SubmissionRefused) as refused:
        run(service.submit({**request("police:bac-ninh"), "movement": "toan-dan"}, "k3"))
    assert refused.value.kind is Refusal.INVALID and refused.value.code == "wrong-movement"
    assert refused.value.extra["errors"][0]["field"] == "movement"
    assert "police:bac-ninh" not in {d["unit_id"] for d in submissions(db)}


def test_a_read_made_before_the_mark_and_finished_after_it_still_says_accepted() -> None:
    """The API reads the document, then asks whether Kafka has it: the mark may land in
    between (the read saw it unpublished, and the delivery is no longer in flight), so
    a process still says acknowledged after the mark, not only before it."""
    db = intake_db()
    service = intake(db)

    async def scenario() -> bool:
        outcome = await service.submit(request(), "k1")
        await service.settled()  # the mark has landed and the delivery left `_inflight`
        return service.acknowledged(outcome.receipt.submission_id)

    assert run(scenario())
    assert sid(1) not in db["outbox"].docs  # marked: out of the outbox
    assert not intake(db).acknowledged(sid(1))  # another process knows nothing of it


def test_a_replay_of_a_revision_out_of_the_outbox_is_not_published_again() -> None:
    """Published means out of the outbox: the mark deletes the entry and leaves the
    submission as stored. A replay in another process (no memory of the delivery) reads
    the outbox and sends nothing; with the entry left behind by a crash before the mark,
    the replay publishes it again (at least once, ADR 0001)."""
    db = intake_db()
    producer = FakeProducer()
    first = run(submit_and_settle(intake(db, producer), request(), "k1"))
    assert producer.ids == [sid(1)] and db["outbox"].docs == {}
    assert db["submissions"].docs[sid(1)]["published"] is False  # not rewritten
    again = run(intake(db, producer).submit(request(), "k1"))
    assert again.replayed and again.receipt == first.receipt
    assert producer.ids == [sid(1)]
    db["outbox"].docs[sid(1)] = {"_id": sid(1), "unit_id": "province:quang-ninh",
                                 "stored_at": datetime.now(UTC)}
    run(submit_and_settle(intake(db, producer), request(), "k1"))
    assert producer.ids == [sid(1), sid(1)] and db["outbox"].docs == {}
