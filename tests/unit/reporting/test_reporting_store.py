"""The read models' `_id`-first writes: order-insensitive and idempotent whatever the
order of the events, also with two writers interleaved (a replay beside the live
agents), and cheap on FerretDB: a new document is one insert, a redelivery nothing, a
newer version one conditional write; no filter but `{_id}` on the common paths."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.reporting import projections
from services.reporting.store import ReadModel, flat_report
from services.reporting.write_cache import Known, below
from tests.fakes.mongo import FakeDatabase
from tests.unit.reporting_samples import accepted

KEY = "police:phu-tho|2026"


class Document:  # what drop_all needs of a mongoengine Document class
    def __init__(self, name: str) -> None:
        self.name = name

    def _get_collection_name(self) -> str:
        return self.name

    def ensure_indexes(self) -> None:
        return None


def model(db: FakeDatabase, seconds: float = 0.0) -> ReadModel:
    return ReadModel(db, watermark_seconds=seconds)


def parts(revision: int) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    data = accepted("police:phu-tho", revision=revision,
                    received=f"2026-11-2{revision}T03:00:00+00:00", on_time=revision == 1)
    first, latest = projections.submission_parts(data)
    return KEY, {"unit_id": "police:phu-tho", "period": 2026}, first, latest


def score(revision: int, day: int) -> dict[str, Any]:
    return projections.score_doc({"unit_id": "police:phu-tho", "period": 2026, "total": day,
                                  "revision": revision,
                                  "scored_at": f"2026-11-{day:02d}T00:00:00Z"}, "x")


def reminder(status: str, at: str, sent_at: str | None) -> dict[str, Any]:
    return projections.reminder_doc(
        f"vn.emulation.notification.{status}", at,
        {"unit_id": "police:lang-son", "period": 2026, "stage": "d-7", "channel": "sms",
         "recipient": "+84990000201", "status": status, "sent_at": sent_at})


async def apply_all(rm: ReadModel, events: list[tuple[str, Any]]) -> None:
    for kind, payload in events:
        if kind == "submission":
            await rm.apply_submission(*parts(payload))
        elif kind == "score":
            await rm.apply_score(payload)
        else:
            await rm.apply_reminder(payload)


EVENTS: list[tuple[str, Any]] = [
    ("submission", 1), ("submission", 2), ("submission", 3),
    ("score", score(1, 20)), ("score", score(1, 22)), ("score", score(2, 21)),
    ("reminder", reminder("sent", "2026-11-23T01:00:05Z", "2026-11-23T01:00:04Z")),
    ("reminder", reminder("delivered", "2026-11-23T01:00:09Z", None)),
]


def expected_state() -> dict[str, dict[str, Any]]:
    db = FakeDatabase()
    asyncio.run(apply_all(model(db), EVENTS))
    return db.state("rm_meta")


def test_the_expected_state_keeps_first_receipt_latest_revision_and_sent_at() -> None:
    state = expected_state()
    report = flat_report(state["rm_submissions"][KEY])
    assert (report["first_revision"], report["on_time"], report["revision"]) == (1, True, 3)
    assert report["latest_received_at"].day == 23 and report["first_received_at"].day == 21
    assert state["rm_scores"][KEY]["revision"] == 2
    [rem] = state["rm_reminders"].values()
    assert rem["status"] == "delivered"
    assert rem["sent_at"] == datetime(2026, 11, 23, 1, 0, 4, tzinfo=UTC)


def test_any_order_of_the_events_ends_in_the_same_state() -> None:
    want = expected_state()
    rng = random.Random(7)
    orders = [[*p, *EVENTS[3:]] for p in itertools.permutations(EVENTS[:3])]
    orders += [rng.sample(EVENTS, len(EVENTS)) for _ in range(200)]

    async def run() -> None:
        for order in orders:
            db = FakeDatabase()
            await apply_all(model(db), order)
            assert db.state("rm_meta") == want, order

    asyncio.run(run())


def test_redelivery_and_a_second_model_over_the_same_data_change_nothing() -> None:
    want = expected_state()
    db = FakeDatabase()
    asyncio.run(apply_all(model(db), EVENTS + EVENTS))
    asyncio.run(apply_all(model(db), list(reversed(EVENTS))))  # e.g. after a restart
    assert db.state("rm_meta") == want


@pytest.mark.parametrize("seed", range(30))
def test_a_replay_beside_the_live_writer_ends_in_the_same_state(seed: int) -> None:
    want = expected_state()
    rng = random.Random(seed)
    db = FakeDatabase()
    live, replay = model(db), model(db)
    primed = rng.randrange(len(EVENTS))  # what the live writer had seen (and remembers)
    asyncio.run(apply_all(live, EVENTS[:primed]))

    async def both() -> None:
        await asyncio.gather(apply_all(live, rng.sample(EVENTS, len(EVENTS))),
                             apply_all(replay, rng.sample(EVENTS, len(EVENTS))))

    asyncio.run(both())
    assert db.state("rm_meta") == want


def shapes(db: FakeDatabase) -> list[tuple[str, str, tuple[str, ...]]]:
    """The calls since the last, but the watermark's."""
    out = [c for c in db.shapes() if c[0] != "rm_meta"]
    db.reset()
    return out


def test_a_new_document_is_one_insert_a_redelivery_nothing_a_newer_one_write() -> None:
    db = FakeDatabase()
    rm = model(db)

    async def run() -> None:
        assert await rm.apply_submission(*parts(1))
        assert shapes(db) == [("rm_submissions", "update_one", ("_id",))]
        assert not await rm.apply_submission(*parts(1))
        assert shapes(db) == []
        assert await rm.apply_submission(*parts(2))
        assert shapes(db) == [("rm_submissions", "update_one", ("_id",))]
        assert await rm.apply_submission(*parts(1)) is False
        assert shapes(db) == []

        await rm.apply_score(score(1, 20))
        assert shapes(db) == [("rm_scores", "insert_one", ("_id",))]
        assert not await rm.apply_score(score(1, 19))
        assert shapes(db) == []
        assert await rm.apply_score(score(1, 21))
        assert shapes(db) == [("rm_scores", "replace_one", ("_id", "order"))]

    asyncio.run(run())


def test_a_process_that_does_not_know_the_document_reads_it_by_id_only() -> None:
    db = FakeDatabase()
    asyncio.run(apply_all(model(db), EVENTS))
    db.calls.clear()
    fresh = model(db)

    async def run() -> None:
        # The same revision again: one write by `_id` that changes nothing.
        assert not await fresh.apply_submission(*parts(3))
        assert shapes(db) == [("rm_submissions", "update_one", ("_id",))]
        # An amendment: one write by `_id`; the first report stays.
        assert await fresh.apply_submission(*parts(4))
        assert shapes(db) == [("rm_submissions", "update_one", ("_id",))]

    asyncio.run(run())
    assert flat_report(db.state("rm_meta")["rm_submissions"][KEY])["first_revision"] == 1


def test_a_stale_status_still_fills_in_when_the_reminder_went_out() -> None:
    db = FakeDatabase()
    rm = model(db)
    delivered = reminder("delivered", "2026-11-23T01:00:09Z", None)
    sent = reminder("sent", "2026-11-23T01:00:05Z", "2026-11-23T01:00:04Z")
    asyncio.run(apply_all(rm, [("reminder", delivered), ("reminder", sent)]))
    doc = db.state("rm_meta")["rm_reminders"][delivered["_id"]]
    assert doc["status"] == "delivered" and doc["sent_at"] is not None
    db.calls.clear()
    asyncio.run(apply_all(rm, [("reminder", sent), ("reminder", delivered)]))
    assert shapes(db) == []  # both known: nothing to send


def test_a_rebuild_forgets_what_was_known_even_a_write_across_the_drop() -> None:
    db = FakeDatabase()
    rm = model(db)
    names = ["rm_submissions", "rm_scores", "rm_reminders", "rm_meta"]

    async def run() -> None:
        await rm.apply_submission(*parts(1))
        await rm.drop_all([Document(n) for n in names])
        await rm.apply_submission(*parts(1))  # replayed: written again, not skipped
        assert flat_report(db["rm_submissions"].docs[KEY])["revision"] == 1

        # A write that began before a drop and ended after it is not remembered.
        db["rm_scores"].gate = asyncio.Event()
        writing = asyncio.create_task(rm.apply_score(score(1, 20)))
        await asyncio.sleep(0)
        dropping = asyncio.create_task(rm.drop_all([Document("rm_scores")]))
        await asyncio.sleep(0)
        db["rm_scores"].gate.set()
        await asyncio.gather(writing, dropping)
        db["rm_scores"].docs.clear()  # it landed before the drop reached the collection
        assert await rm.apply_score(score(1, 20))
        assert db["rm_scores"].docs

    asyncio.run(run())


def test_the_watermark_is_written_when_it_grows_and_at_most_so_often() -> None:
    db = FakeDatabase()
    rm = model(db, seconds=3600)
    t0 = datetime(2026, 11, 20, tzinfo=UTC)

    async def run() -> None:
        meta = db["rm_meta"]
        await rm.advance_watermark(t0)
        assert meta.docs["watermark"]["last_event_at"] == t0  # the first one at once
        await rm.advance_watermark(t0 + timedelta(seconds=1))
        await rm.advance_watermark(t0 - timedelta(seconds=5))
        assert meta.docs["watermark"]["last_event_at"] == t0  # held back
        # A report made here states what this process applied; never more.
        assert await rm.last_event_at() == t0 + timedelta(seconds=1)
        await rm.flush()
        assert meta.docs["watermark"]["last_event_at"] == t0 + timedelta(seconds=1)
        calls = len(db.calls)
        await rm.advance_watermark(t0)  # not newer: nothing
        await rm.flush()
        assert len(db.calls) == calls

    asyncio.run(run())


def test_the_held_back_watermark_is_written_by_a_timer() -> None:
    db = FakeDatabase()
    rm = model(db, seconds=0.05)
    t0 = datetime(2026, 11, 20, tzinfo=UTC)

    async def run() -> None:
        await rm.advance_watermark(t0)
        await rm.advance_watermark(t0 + timedelta(seconds=1))
        meta = db["rm_meta"]
        for _ in range(200):  # bounded wait for the timer, not a timing assertion
            if meta.docs["watermark"]["last_event_at"] > t0:
                break
            await asyncio.sleep(0.01)
        assert meta.docs["watermark"]["last_event_at"] == t0 + timedelta(seconds=1)

    asyncio.run(run())


def test_comparisons_follow_mongodb_and_known_is_bounded() -> None:
    assert below("a", "b") and below(1, 2.5) and not below("2", 3)
    assert not below(None, "a") and not below(True, 2) and not below("b", "b")
    known = Known(limit=2)
    for k in "abc":
        known.put(k, 1)
    assert known.get("a") is None and known.get("c") == 1


def test_a_watermark_write_that_fails_is_retried_by_the_timer() -> None:
    db = FakeDatabase()
    rm = model(db, seconds=0.05)
    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    meta = db["rm_meta"]
    failures = [ConnectionError("database away")]

    def flaky(op: str, flt: dict[str, Any]) -> None:
        if op == "update_one" and failures:
            raise failures.pop()

    meta.before = flaky

    async def run() -> None:
        with pytest.raises(ConnectionError):
            await rm.advance_watermark(t0)  # the handler fails: its record is retried
        await rm.advance_watermark(t0)  # the retry: nothing new to write
        assert await rm.last_event_at() == t0  # still stated here: the event is applied
        for _ in range(200):  # bounded wait for the timer, not a timing assertion
            if "watermark" in meta.docs:
                break
            await asyncio.sleep(0.01)
        assert meta.docs["watermark"]["last_event_at"] == t0

    asyncio.run(run())
