"""The intake's `_id`-only storage on the real FerretDB: key pointers, heads and the
outbox kept right under concurrent requests, and submissions stored before they existed
found and published after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pymongo
import pytest

from services.common.topics import SUBMISSIONS
from services.submissions import domain
from services.submissions.store import BACKFILL_MARKER
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
    assert all(d["published"] for d in stored)
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
    # As an older version would have left it: unpublished, without pointer, head, outbox
    # entry; and a database this version never backfilled.
    db["submissions"].update_one({"_id": sid}, {"$set": {"published": False}})
    db["submission_keys"].delete_one({"_id": f"{unit}|{key}"})
    db["submission_heads"].delete_one({"_id": f"{unit}|{PERIOD}"})
    db["submission_markers"].delete_one({"_id": BACKFILL_MARKER})
    clock.proc("submissions").kill9()
    clock.start("submissions")
    clock.set_clock(NOW, ("submissions",))
    # Its event again (consumers drop the duplicate by its id), from the relay.
    assert len(clock.read_topic(SUBMISSIONS, lambda v: v.get("id") == sid, count=2,
                                timeout=60)) == 2
    wait_for("the relay to mark it", lambda: db["submissions"].find_one(
        {"_id": sid, "published": True}), timeout=30)
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
