"""The MongoDB-wire server (FerretDB) stopped in the middle of a stream: the intake answers
503 and acknowledges nothing it did not store, every service says it is not ready, the
consumers block on the record they hold (retrying, never skipping it) and, once the
database is back, everything accepted is stored, scored and reported exactly once."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from devstack import parts
from devstack.config import SERVICES
from services.common import schemas
from tests.faults.streams import (
    SUBMISSION_REQUESTS,
    SUBMISSIONS,
    BackgroundStream,
    Item,
    accepted_event,
    assert_reported_once,
    assert_scored_once,
    body_for,
    committed,
    latest_by_unit,
    metric,
    new_key,
    post_until_accepted,
    requested_event,
    stored,
    units_of,
)
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2061
NOW = f"{PERIOD}-11-20T09:00:00+07:00"
CONSUMER_GROUPS = {  # group: (service, topic) of the records held while the store is away
    "emulation-submissions": ("submissions", SUBMISSION_REQUESTS),
    "emulation-scoring": ("scoring", SUBMISSIONS),
    "emulation-notifications": ("notifications", SUBMISSIONS),
    "emulation-reporting": ("reporting", SUBMISSIONS),
}


def ready(stack: Stack, name: str) -> httpx.Response:
    with stack.client(name) as c:
        return c.get("/readyz", timeout=30)


def test_database_outage_mid_stream_acknowledges_only_what_was_stored(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack = clock
    stack.set_clock(NOW)
    units = units_of(stack, PERIOD)  # each unit below in one role only
    http = [Item(u, body_for(example_request, u, PERIOD, 7, f"db {u}"), new_key("db"))
            for u in units[0:48:4]]
    kafka = [Item(u, body_for(example_request, u, PERIOD, 8, f"db kafka {u}"),
                  new_key("db-event"), way="kafka") for u in units[1:13:4]]
    # Submissions stored before the outage whose events the relay publishes during it.
    relayed = [Item(u, body_for(example_request, u, PERIOD, 9, f"db relay {u}"), "relay")
               for u in units[2:50:12]]
    probe = Item(units[51], body_for(example_request, units[51], PERIOD, 6, "probe"),
                 new_key("db-probe"))
    outage = threading.Event()
    # From the fifth item on, the stream meets the outage.
    stream = BackgroundStream(http, lambda item: post_until_accepted(stack, item, timeout=300),
                              {4: outage}, 120).start()
    done, failure = stream.done, stream.failure
    wait_for("four receipts before the outage", lambda: len(done) >= 4 or failure,
             timeout=120)
    assert not failure, failure
    retries_before = {g: metric(stack.cfg.service_url(s), "processing_retries_total", topic=t)
                      for g, (s, t) in CONSUMER_GROUPS.items()}
    ferretdb = stack.proc("ferretdb")
    assert ferretdb.stop(timeout=30)
    outage.set()
    try:
        r = post_once(stack, probe)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["Retry-After"]
        for name in SERVICES:
            answer = ready(stack, name)
            assert answer.status_code == 503, (name, answer.text)
            assert answer.json()["checks"]["mongodb"].startswith("failed"), name

        held: dict[str, tuple[int, int]] = {}  # group: (partition, offset) of a held record
        producer = stack.producer()
        try:
            for item in kafka:
                value = requested_event(item)
                meta = producer.send(SUBMISSION_REQUESTS, key=item.unit.encode(), value=value,
                                     headers=stack.proof(item.unit, value)).get(timeout=30)
                held.setdefault("emulation-submissions", (meta.partition, meta.offset))
            for item in relayed:
                event = accepted_event(item.unit, PERIOD, item.body)
                assert schemas.errors("submission-accepted.v2", event.to_dict()) == []
                meta = producer.send(SUBMISSIONS, key=item.unit.encode(),
                                     value=event.to_bytes()).get(timeout=30)
                item.receipt = {"submission_id": event.id, "revision": 1}
                for group in CONSUMER_GROUPS:
                    if group != "emulation-submissions":
                        held.setdefault(group, (meta.partition, meta.offset))
        finally:
            producer.close()
        # Each consumer is retrying (it holds a record it cannot store) ...
        for group, (service, topic) in CONSUMER_GROUPS.items():
            url = stack.cfg.service_url(service)
            wait_for(f"{service} to retry", lambda u=url, t=topic, g=group: metric(
                u, "processing_retries_total", topic=t) > retries_before[g], timeout=90)
        # ... and has not committed past what it could not store: nothing was skipped.
        for group, (_, topic) in CONSUMER_GROUPS.items():
            partition, offset = held[group]
            position = committed(stack.cfg.kafka_bootstrap, group).get((topic, partition), 0)
            assert position <= offset, (group, partition, position, offset)
        assert stored_directly_is_impossible(stack)
    finally:
        parts.start_ferretdb(stack.cfg)

    for name in SERVICES:
        wait_for(f"{name} to be ready again",
                 lambda n=name: ready(stack, n).status_code == 200, timeout=90)
    receipt = post_until_accepted(stack, probe, timeout=120)
    assert receipt["revision"] == 1  # one submission, however many attempts
    stream.join(300)
    assert not stream.is_alive() and not failure, failure
    assert any("503" in i.attempts for i in http), "no stream request met the outage"
    for item in kafka:
        docs = wait_for(f"the Kafka-way submission of {item.unit}", lambda i=item: [
            d for d in stored(stack, i.unit, PERIOD) if d["status"] == "accepted"], timeout=180)
        item.receipt = docs[0]
    for item in [*http, probe, *kafka]:
        docs = stored(stack, item.unit, PERIOD)
        assert item.receipt is not None
        assert [(d["submission_id"], d["status"]) for d in docs] == [
            (item.receipt["submission_id"], "accepted")], item.unit

    latest = latest_by_unit([*http, probe, *kafka, *relayed])
    assert_scored_once(stack, PERIOD, latest)
    assert_reported_once(stack, PERIOD, latest, expected=100)


def post_once(stack: Stack, item: Item) -> httpx.Response:
    with stack.client("submissions", stack.token(item.unit)) as c:
        return c.post("/v1/submissions", json=item.body,
                      headers={"Idempotency-Key": item.key}, timeout=60)


def stored_directly_is_impossible(stack: Stack) -> bool:
    """The database really is away (so the 503s above are about it)."""
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        stack.cfg.mongo_url, serverSelectionTimeoutMS=1000)
    try:
        client.admin.command("ping")
    except pymongo.errors.PyMongoError:
        return True
    finally:
        client.close()
    return False
