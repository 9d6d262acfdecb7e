"""Group commit: requests in progress together share each bulk write, and each gets its
own answer (a refusal, a failure or a receipt) as if it had written alone."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from services.common.batching import GroupCommit
from services.submissions import domain
from services.submissions.service import ORPHAN_SECONDS
from tests.fakes.kafka import FakeProducer
from tests.unit.submissions_support import (
    AFTER_ANSWER,
    REGISTRY,
    age_outbox,
    all_published,
    intake,
    intake_db,
    request,
    submissions,
)


def test_items_queued_together_are_written_together_each_answered() -> None:
    writes: list[list[int]] = []

    async def write(items: list[int]) -> list[int | Exception]:
        writes.append(items)
        await asyncio.sleep(0.01)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    async def scenario() -> None:
        batch: GroupCommit[int, int] = GroupCommit(write, window=0.005)
        first = await asyncio.gather(*(batch(i) for i in range(6)), return_exceptions=True)
        assert writes == [[0, 1, 2, 3, 4, 5]]
        assert first[0::2] == [0, 20, 40]
        assert [str(e) for e in first[1::2]] == ["odd 1", "odd 3", "odd 5"]
        # Items queued while a batch is written make the next batch.
        late = asyncio.ensure_future(asyncio.sleep(0.008))
        early = [asyncio.create_task(batch(i)) for i in (10, 12)]
        await late
        more = [asyncio.create_task(batch(i)) for i in (14, 16)]
        assert [await t for t in early + more] == [100, 120, 140, 160]
        assert writes[1:] == [[10, 12], [14, 16]]

    asyncio.run(scenario())


def test_a_lone_caller_does_not_wait_for_company() -> None:
    async def write(items: list[int]) -> list[int]:
        return items

    async def scenario() -> float:
        batch: GroupCommit[int, int] = GroupCommit(write, window=0.05)
        started = time.monotonic()
        for i in range(10):  # one at a time, as a consumer of one record at a time
            assert await batch(i) == i
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.05 * 2


def test_a_failed_write_fails_every_caller_of_its_batch_only() -> None:
    calls = 0

    async def write(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("store away")
        return items

    async def scenario() -> None:
        batch: GroupCommit[str, str] = GroupCommit(write, window=0.001)
        failed = await asyncio.gather(batch("a"), batch("b"), return_exceptions=True)
        assert all(isinstance(e, ConnectionError) for e in failed)
        assert await batch("c") == "c"

    asyncio.run(scenario())


def test_a_caller_that_gives_up_does_not_stop_the_others() -> None:
    written: list[str] = []

    async def write(items: list[str]) -> list[None]:
        await asyncio.sleep(0.02)
        written.extend(items)
        return [None] * len(items)

    async def scenario() -> None:
        batch: GroupCommit[str, None] = GroupCommit(write, window=0.001)
        impatient = asyncio.create_task(batch("x"))
        patient = asyncio.create_task(batch("y"))
        await asyncio.sleep(0.005)
        impatient.cancel()
        await patient
        with pytest.raises(asyncio.CancelledError):
            await impatient
        assert written == ["x", "y"]

    asyncio.run(scenario())


def test_concurrent_submissions_share_their_writes() -> None:
    db = intake_db()
    producer = FakeProducer()
    service = intake(db, producer)
    units = [u.unit_id for u in REGISTRY.units(2026) if u.type == "province"][:8]

    async def scenario() -> list[Any]:
        outcomes = list(await asyncio.gather(*(
            service.submit(request(unit=u), f"k-{u}") for u in units)))
        await service.settled()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert sorted(o.receipt.unit_id for o in outcomes) == sorted(units)
    assert all_published(db) and db["outbox"].docs == {}
    inserts = [b.size for b in db.batches if (b.coll, b.op) == ("submissions", "insert_many")]
    assert sum(inserts) == 8 and len(inserts) < 8, inserts
    for coll in ("outbox", "submission_keys", "submission_heads"):
        sizes = [b.size for b in db.batches if b.coll == coll]
        assert max(sizes) > 1, (coll, sizes)
    assert sorted(producer.ids) == sorted(
        domain.submission_id(u, 2026, 1) for u in units)


def test_two_requests_for_one_revision_in_one_batch_are_settled_as_before() -> None:
    db = intake_db()
    service = intake(db)

    async def scenario() -> list[Any]:
        # The same key twice and another key: one revision each key, one replay.
        return list(await asyncio.gather(
            service.submit(request(notes="a"), "same"), service.submit(request(notes="a"), "same"),
            service.submit(request(notes="b"), "other")))

    first, again, other = asyncio.run(scenario())
    assert first.receipt == again.receipt and first.replayed != again.replayed
    assert {first.receipt.revision, other.receipt.revision} == {1, 2}
    assert [d["idempotency_key"] for d in submissions(db)] in (
        ["same", "other"], ["other", "same"])
    assert db["submission_heads"].docs["province:quang-ninh|2026"]["revision"] == 2


@pytest.mark.parametrize("crash_at", [
    ("outbox", "insert_one"),  # in the batch of outbox entries
    ("submissions", "insert_one"),  # in the batch of claims
    ("submission_keys", "insert_one"),  # after the claims, in the pointers' batch
    ("submission_heads", "insert_one"),  # pointers written, in the heads' batch
    ("outbox", "delete_one"),  # answered (on Kafka), in the batch of marks (removals)
])
def test_a_crash_inside_a_shared_write_loses_and_doubles_nothing(
        crash_at: tuple[str, str]) -> None:
    db = intake_db()
    producer = FakeProducer()
    units = [u.unit_id for u in REGISTRY.units(2026) if u.type == "province"][:4]

    async def all_of(service: Any) -> list[Any]:
        answers = list(await asyncio.gather(*(service.submit(request(unit=u), f"k-{u}")
                                              for u in units), return_exceptions=True))
        await service.settled()
        return answers

    db.crash_at = crash_at
    crashed = asyncio.run(all_of(intake(db, producer)))
    assert db.crash_at is None  # it crashed
    # The marks come after the answers: a crash there fails no request.
    assert any(isinstance(o, Exception) for o in crashed) != (crash_at in AFTER_ANSWER)
    # Every client retries with its key, in a new process: one submission each.
    after = intake(db, producer)
    retried = asyncio.run(all_of(after))
    assert all(not isinstance(o, Exception) for o in retried), retried
    assert sorted(o.receipt.submission_id for o in retried) == sorted(
        domain.submission_id(u, 2026, 1) for u in units)
    assert len(submissions(db)) == len(units)
    for o in crashed:  # a request answered before the crash keeps its receipt
        if not isinstance(o, Exception):
            assert o.receipt in {r.receipt for r in retried}
    # Entries of revisions a retry computed from a lagging head and lost are orphans.
    age_outbox(db, ORPHAN_SECONDS + 1)
    asyncio.run(after.relay_once(grace_seconds=5))
    assert all_published(db) and db["outbox"].docs == {}
    assert set(producer.ids) == {d["_id"] for d in submissions(db)}
