"""The intake's `_id`-only storage on the real FerretDB: key pointers, heads and the
outbox kept right under concurrent requests, each claim kept inside a group-committed
bulk write, and submissions stored before they existed found and published after a
restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pymongo
import pytest
from pymongo import AsyncMongoClient

from services.common.mongo import connect_odm, upsert_all
from services.common.topics import SUBMISSIONS
from services.submissions import domain
from services.submissions.schema import DOCUMENTS
from services.submissions.store import BACKFILL_MARKER, SubmissionStore
from tests.conftest import request_for
from tests.stackfixture import Stack, unique_key, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2033  # this file's own period
NOW = "2033-06-01T09:00:00+07:00"


@pytest.fixture
def db(stack: Stack) -> Iterator[Any]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        stack.cfg.mongo_url, tz_aware=True)
    yield client["emulation_submissions"]
    client.close()


def post(stack: Stack, body: dict[str, Any], key: str) -> Any:
    with stack.client("submissions", stack.token(body["unit_id"])) as c:
        return c.post("/v1/submissions", json=body, headers={"Idempotency-Key": key})


def test_concurrent_requests_keep_one_revision_per_key_and_no_gap(
        clock: Stack, db: Any, example_request: dict) -> None:
    clock.set_clock(NOW, ("submissions",))
    unit = "province:lao-cai"
    same_key = unique_key()
    same = request_for(example_request, unit, PERIOD)
    others = [dict(request_for(example_request, unit, PERIOD), notes=f"amendment {i}")
              for i in range(3)]
    # Seven at once: under the service's in-flight limit (8), so none is shed with a 429.
    jobs = [(same, same_key)] * 4 + [(o, unique_key()) for o in others]
    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(lambda job: post(clock, *job), jobs))
    assert [a.status_code for a in answers] == [202] * len(jobs), [a.text for a in answers]
    receipts = [a.json() for a in answers]
    assert len({r["submission_id"] for r in receipts[:4]}) == 1
    stored = list(db["submissions"].find({"unit_id": unit, "period": PERIOD}, {"event": 0}))
    assert sorted(d["revision"] for d in stored) == list(range(1, 5))
    assert sorted(d["idempotency_key"] for d in stored) == sorted(k for _, k in jobs[3:])
    # On Kafka at the 202; marked published (out of the outbox) just after it (ADR 0001).
    wait_for("the submissions marked published", lambda: not list(db["outbox"].find(
        {"_id": {"$in": [d["_id"] for d in stored]}})) or None, timeout=30)
    head = db["submission_heads"].find_one({"_id": f"{unit}|{PERIOD}"})
    assert head["revision"] == 4 and head["on_time"] is True
    for d in stored:
        pointer = db["submission_keys"].find_one({"_id": f"{unit}|{d['idempotency_key']}"})
        assert pointer["submission_id"] == d["_id"]
    ids = [d["_id"] for d in stored]
    # Entries left by requests that lost a revision are cleared by the relay.
    wait_for("the outbox to drain", lambda: not list(
        db["outbox"].find({"_id": {"$in": ids}})) or None, timeout=60)


def test_a_submission_stored_before_the_outbox_is_published_after_a_restart(
        clock: Stack, db: Any, example_request: dict) -> None:
    clock.set_clock(NOW, ("submissions",))
    unit = "province:tuyen-quang"
    key = unique_key()
    body = request_for(example_request, unit, PERIOD)
    first = post(clock, body, key)
    assert first.status_code == 202, first.text
    sid = first.json()["submission_id"]
    # The mark comes after the answer (ADR 0001): let it land before undoing it.
    wait_for("the mark after the answer", lambda: db["outbox"].find_one({"_id": sid})
             is None or None, timeout=30)
    # As an older version would have left it: unpublished (`published: false`, which
    # this version writes too and no longer changes), without pointer, head, outbox
    # entry; and a database this version never backfilled.
    assert db["submissions"].find_one({"_id": sid})["published"] is False
    db["submission_keys"].delete_one({"_id": f"{unit}|{key}"})
    db["submission_heads"].delete_one({"_id": f"{unit}|{PERIOD}"})
    db["submission_markers"].delete_one({"_id": BACKFILL_MARKER})
    clock.proc("submissions").kill9()
    clock.start("submissions")
    clock.set_clock(NOW, ("submissions",))
    # Its event again (consumers drop the duplicate by its id), from the relay.
    assert len(clock.read_topic(SUBMISSIONS, lambda v: v.get("id") == sid, count=2,
                                timeout=60)) == 2
    wait_for("the relay to mark it", lambda: db["outbox"].find_one({"_id": sid})
             is None or None, timeout=30)
    assert db["submission_markers"].find_one({"_id": BACKFILL_MARKER}) is not None
    assert db["submission_keys"].find_one({"_id": f"{unit}|{key}"})["submission_id"] == sid
    assert db["submission_heads"].find_one({"_id": f"{unit}|{PERIOD}"})["revision"] == 1
    replay = post(clock, body, key)
    assert replay.status_code == 202 and replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    amended = post(clock, dict(body, notes="after the restart"), unique_key())
    assert amended.status_code == 202, amended.text
    assert amended.json()["revision"] == 2 and amended.json()["supersedes"] == sid
    assert amended.json()["submission_id"] == domain.submission_id(unit, PERIOD, 2)
    wait_for("the outbox to drain", lambda: db["outbox"].find_one(
        {"_id": {"$in": [sid, amended.json()["submission_id"]]}}) is None or None,
             timeout=30)


def test_the_batched_writes_keep_each_claim_on_the_real_server(stack: Stack) -> None:
    """One unordered insert_many: each document claimed or refused on its own (a taken
    revision, a taken key), pointers and heads in one bulk write each, marks likewise."""
    name = "test_submissions_batches"

    def doc(unit: str, revision: int, key: str) -> dict[str, Any]:
        return {"_id": domain.submission_id(unit, PERIOD, revision), "unit_id": unit,
                "period": PERIOD, "revision": revision, "idempotency_key": key,
                "content_hash": key, "on_time": True, "published": False,
                "received_at": datetime.now(UTC), "deadline": datetime.now(UTC),
                "content": {"unit_id": unit}, "event": {"id": key},
                "stored_at": datetime.now(UTC)}

    async def scenario() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.cfg.mongo_url)
        try:
            store = SubmissionStore(client[name], group_window=0.01)
            docs = [doc("province:a", 1, "k1"), doc("province:a", 1, "k2"),  # one revision
                    doc("province:b", 1, "k3"), doc("province:b", 2, "k3"),  # one key
                    doc("province:c", 1, "k4")]
            await asyncio.gather(*(store.pend(d, datetime.now(UTC)) for d in docs))
            claimed = await asyncio.gather(*(store.insert(d) for d in docs))
            assert claimed == [True, False, True, False, True]
            won = [d for d, ok in zip(docs, claimed, strict=True) if ok]
            # Two stores (two processes) raising the same heads at once.
            other = SubmissionStore(client[name], group_window=0.01)
            await asyncio.gather(*(s.remember(d) for d in won for s in (store, other)),
                                 other.raise_head(doc("province:c", 2, "k5")))
            await asyncio.gather(*(store.mark_published(d["_id"], datetime.now(UTC))
                                   for d in won))
            db = client[name]
            heads = {h["_id"]: h["revision"] async for h in db["submission_heads"].find({})}
            assert heads == {f"province:a|{PERIOD}": 1, f"province:b|{PERIOD}": 1,
                             f"province:c|{PERIOD}": 2}
            for d in won:
                pointer = await store.key(d["unit_id"], d["idempotency_key"])
                assert pointer is not None and pointer["submission_id"] == d["_id"]
                got = await store.by_id(d["_id"])
                assert got is not None and await store.is_published(got)
            left = {e["_id"] for e in await store.pending()}
            assert left == {d["_id"] for d in docs} - {d["_id"] for d in won}
            # An upsert refused by a unique index in a bulk write (as a raced upsert is)
            # is reported as lost, the others written, whatever the server answers.
            lost = await upsert_all(db["submissions"], [
                ({"_id": "clash"}, {"$set": {"unit_id": "province:a",
                                             "idempotency_key": "k1"}}),
                ({"_id": "fine"}, {"$set": {"unit_id": "province:z",
                                            "idempotency_key": "k9"}})])
            assert [f["_id"] for f, _ in lost] == ["clash"]
            assert await store.by_id("fine") is not None
        finally:
            await client.drop_database(name)
            await client.close()

    connect_odm(stack.cfg.mongo_url, name, DOCUMENTS)  # the unique (unit, key) index
    asyncio.run(scenario())
