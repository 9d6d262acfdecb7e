"""Kafka authentication, ACLs and the proof of the unit, on the real broker (issue 15;
docs/kafka-security.md). One test per attempt; each asserts the refusal and that nothing
was written: no record carrying the attempt's marker on the topic, no submission stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, TopicAuthorizationFailedError

from devstack import parts
from services.common.kafka_acls import MINISTRY
from services.common.topics import (
    SCORES,
    SUBMISSION_REQUESTS,
    SUBMISSION_REQUESTS_DLQ,
    SUBMISSIONS,
    UNITS,
)
from services.submissions.send_request import request_record, send
from tests.conftest import ROOT, request_for
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2071  # this file's own period: no other test submits for it
NOW = f"{PERIOD}-11-20T09:00:00+07:00"


@pytest.fixture
def season(clock: Stack) -> Iterator[Stack]:
    clock.set_clock(NOW)
    yield clock


def units(stack: Stack) -> list[str]:
    with stack.as_operator("submissions") as c:
        r = c.get("/v1/units", params={"period": PERIOD})
    assert r.status_code == 200, r.text
    return sorted(u["unit_id"] for u in r.json() if u["unit_id"].startswith("province:"))


def body(example: dict[str, Any], unit: str, marker: str) -> dict[str, Any]:
    doc = request_for(example, unit, PERIOD)
    doc["notes"] = marker
    return doc


def key_of(stack: Stack, unit: str) -> tuple[str, str]:
    entry = json.loads(stack.cfg.unit_keys.read_text())[unit]
    return str(entry["key_id"]), str(entry["key"])


def records_with(stack: Stack, topic: str, marker: str) -> list[Any]:
    """Every record of `topic`, up to its end now, whose value contains `marker`."""
    consumer = KafkaConsumer(**stack.cfg.kafka_client(), group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        consumer.seek_to_beginning(*tps)
        found, deadline = [], time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            found += [r for r in consumer if marker.encode() in (r.value or b"")]
        return found
    finally:
        consumer.close()


def stored(stack: Stack, unit: str, marker: str) -> list[dict[str, Any]]:
    with stack.as_operator("submissions") as c:
        r = c.get(f"/v1/units/{unit}/submissions", params={"period": PERIOD})
    assert r.status_code == 200, r.text
    return [d for d in r.json() if d["content"].get("notes") == marker]


def letter_for(stack: Stack, event_id: str) -> dict[str, Any]:
    """The intake's dead letter of the request with this event id (waits for it)."""
    rows = stack.read_topic(SUBMISSION_REQUESTS_DLQ,
                            lambda e: event_id in e.get("data", {}).get("value", ""),
                            timeout=60)
    assert rows, f"no dead letter for {event_id}"
    return rows[0]["data"]


def unauthenticated_count(stack: Stack, why: str) -> float:
    text = httpx.get(stack.cfg.service_url("submissions") + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(f'submission_requests_unauthenticated_total{{why="{why}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def producer_as(stack: Stack, **auth: Any) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=stack.cfg.kafka_bootstrap, acks="all",
                         max_block_ms=8000, request_timeout_ms=8000, **auth)


# -- the broker: authentication and ACLs -----------------------------------------------------

@pytest.mark.parametrize("who", ["no credentials", "a wrong password"])
def test_a_client_that_does_not_authenticate_writes_nothing(
        season: Stack, example_request: dict[str, Any], who: str) -> None:
    stack = season
    unit, marker = units(stack)[0], f"noauth-{uuid.uuid4().hex}"
    record = request_record(body(example_request, unit, marker), *key_of(stack, unit))
    auth: dict[str, Any] = {}
    if who == "a wrong password":
        auth = {**stack.cfg.kafka_auth(MINISTRY).kafka_python(),
                "sasl_plain_password": "not-the-password"}
    with pytest.raises(KafkaError):  # no connection is ever usable: nothing can be sent
        producer = producer_as(stack, **auth)
        try:
            producer.send(SUBMISSION_REQUESTS, key=record.key, value=record.value,
                          headers=record.headers).get(timeout=10)
        finally:
            producer.close(timeout=5)
    assert records_with(stack, SUBMISSION_REQUESTS, marker) == []
    assert stored(stack, unit, marker) == []


@pytest.mark.parametrize(("principal", "topic"), [
    ("scoring", UNITS),           # a service writing a topic another service owns
    ("reporting", SCORES),
    ("notifications", SUBMISSIONS),
    (MINISTRY, UNITS),            # the outside producer, beyond submission requests
    (MINISTRY, SCORES),
])
def test_a_principal_cannot_write_a_topic_it_does_not_own(
        stack: Stack, principal: str, topic: str) -> None:
    marker = f"acl-{principal}-{uuid.uuid4().hex}"
    producer = producer_as(stack, **stack.cfg.kafka_auth(principal).kafka_python())
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(topic, key=b"province:ha-noi",
                          value=json.dumps({"marker": marker}).encode()).get(timeout=10)
    finally:
        producer.close(timeout=5)
    assert records_with(stack, topic, marker) == []


def test_a_service_with_a_wrong_password_says_so_and_is_not_ready(stack: Stack) -> None:
    """What an operator sees when a service's Kafka secret is wrong: /readyz fails on Kafka,
    and the service's log says why (the broker's own answer)."""
    port = stack.cfg.kafka_port - 92 + 15  # <TEST_PORT_BASE> + 15
    parts.proc(stack.cfg, "scoring-badpw").stop()  # a leftover of an interrupted run
    service = parts.start_instance(stack.cfg, "scoring", "badpw", port, wait=False, env={
        "EMULATION_KAFKA_PASSWORD": "not-the-password",
        "EMULATION_MONGO_DB": "emulation_scoring_badpw"})
    try:
        def not_ready() -> Any:
            r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=15)
            kafka = str(r.json().get("checks", {}).get("kafka", ""))
            return kafka if r.status_code == 503 and kafka.startswith("failed") else None

        wait_for("/readyz to fail on Kafka", not_ready, timeout=90)
        wait_for("the log to name the refused login", lambda: "SaslAuthenticationFailed" in (
            service.log.read_text(encoding="utf-8") if service.log.exists() else ""))
    finally:
        service.stop()


# -- the proof of the unit -----------------------------------------------------------------

def test_a_request_for_unit_b_with_unit_a_s_proof_is_refused(
        season: Stack, example_request: dict[str, Any]) -> None:
    stack = season
    unit_a, unit_b = units(stack)[1:3]
    marker = f"other-unit-{uuid.uuid4().hex}"
    before = unauthenticated_count(stack, "other-unit")
    record = request_record(body(example_request, unit_b, marker), *key_of(stack, unit_a))
    send(stack.cfg.kafka_bootstrap, stack.cfg.kafka_auth(MINISTRY), record)

    letter = letter_for(stack, record.event_id)
    assert letter["reason"] == "unauthenticated", letter
    assert unit_a in letter["detail"] and unit_b in letter["detail"], letter
    assert stored(stack, unit_b, marker) == [] and stored(stack, unit_a, marker) == []
    assert records_with(stack, SUBMISSIONS, marker) == []
    assert unauthenticated_count(stack, "other-unit") == before + 1


@pytest.mark.parametrize("flaw", ["unsigned", "tampered", "unknown key"])
def test_a_request_without_a_valid_proof_is_refused(
        season: Stack, example_request: dict[str, Any], flaw: str) -> None:
    stack = season
    unit, marker = units(stack)[3], f"{flaw.replace(' ', '-')}-{uuid.uuid4().hex}"
    record = request_record(body(example_request, unit, marker), *key_of(stack, unit))
    value, headers = record.value, record.headers
    if flaw == "unsigned":
        headers = []
    elif flaw == "tampered":  # signed, then the self-assessment raised in transit
        value = value.replace(b'"rating": 7', b'"rating": 10')
        assert value != record.value
    else:
        headers = [("emulation-key-id", b"k-not-issued"), headers[1]]
    producer = producer_as(stack, **stack.cfg.kafka_auth(MINISTRY).kafka_python())
    try:
        producer.send(SUBMISSION_REQUESTS, key=record.key, value=value,
                      headers=headers).get(timeout=30)
    finally:
        producer.close()

    letter = letter_for(stack, record.event_id)
    assert letter["reason"] == "unauthenticated", letter
    assert stored(stack, unit, marker) == []
    assert records_with(stack, SUBMISSIONS, marker) == []


def test_a_replayed_record_changes_nothing(season: Stack,
                                           example_request: dict[str, Any]) -> None:
    """The project's own producer (the CLI the README shows, as kcat would) sends one signed
    request; the very record, captured from the topic, sent again, is a replay."""
    stack = season
    unit, marker = units(stack)[4], f"replay-{uuid.uuid4().hex}"
    request = stack.cfg.state / f"request-{marker}.json"
    request.write_text(json.dumps(body(example_request, unit, marker)))
    env = {**os.environ, **parts.kafka_env(stack.cfg, MINISTRY),
           "EMULATION_KAFKA_BOOTSTRAP": stack.cfg.kafka_bootstrap}
    sent = subprocess.run([sys.executable, "-m", "services.submissions.send_request",
                           "--keys-file", str(stack.cfg.unit_keys), str(request)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert sent.returncode == 0, sent.stderr[-2000:]
    receipt = json.loads(sent.stdout.strip().splitlines()[-1])
    [first] = wait_for("the signed request to be stored", lambda: stored(stack, unit, marker),
                       timeout=60)

    [captured] = records_with(stack, SUBMISSION_REQUESTS, marker)
    assert (captured.partition, captured.offset) == (receipt["partition"], receipt["offset"])
    producer = producer_as(stack, **stack.cfg.kafka_auth(MINISTRY).kafka_python())
    try:
        producer.send(SUBMISSION_REQUESTS, key=captured.key, value=captured.value,
                      headers=list(captured.headers)).get(timeout=30)
        # Behind it on the same partition: a record that is surely refused. Once its dead
        # letter is there, the replay before it has been processed.
        fence = request_record(body(example_request, unit, f"fence-{uuid.uuid4().hex}"),
                               *key_of(stack, unit))
        producer.send(SUBMISSION_REQUESTS, key=fence.key, value=fence.value).get(timeout=30)
    finally:
        producer.close()
    assert letter_for(stack, fence.event_id)["reason"] == "unauthenticated"

    assert len(records_with(stack, SUBMISSION_REQUESTS, marker)) == 2  # both were appended
    assert stored(stack, unit, marker) == [first]  # one submission, unchanged
    published = [json.loads(r.value) for r in records_with(stack, SUBMISSIONS, marker)]
    # (At least once: the outbox may publish an event twice, never another submission.)
    assert {e["data"]["submission_id"] for e in published} == {first["submission_id"]}


def test_the_outside_producer_cannot_read_the_platform_topics(stack: Stack) -> None:
    assert records_with(stack, SUBMISSIONS, "{")  # there is something to read (above)
    consumer = KafkaConsumer(**stack.cfg.kafka_client(MINISTRY), group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        assert consumer.topics() == {SUBMISSION_REQUESTS}  # all it may even see
        consumer.assign([TopicPartition(SUBMISSIONS, p) for p in range(6)])
        consumer.seek_to_beginning()
        got: dict[Any, Any] = {}
        for _ in range(3):
            got.update(consumer.poll(timeout_ms=1000))
        assert got == {}
    finally:
        consumer.close()
