"""Records no consumer can process: not an event at all (poison), an unknown schema
version (`...:v9`), oversized, and three that once escaped the record loop's checks and
were acknowledged with neither a write nor a dead letter: a malformed `dataschema`
suffix (`...:vX`), JSON nested past Python's recursion limit, and an integer over
Python's 4,300-digit limit. Each goes to its dead-letter topic with the reason, its
value and its headers, and the partition keeps moving: a good record behind it, same
key, is processed.

"Oversized" here is a record Kafka takes (under its 1 MiB max.message.bytes) but bigger
than anything the platform produces: over a consumer's limit, the intake's body limit
plus room for the envelope (ServiceSettings.record_limit()). It is refused before being
parsed, with reason `too-large`; the dead letter keeps the value's first 100,000
characters, so it stays producible itself."""

from __future__ import annotations

import copy
import json
import uuid
from collections import defaultdict
from typing import Any

import pytest

from services.common.settings import ServiceSettings
from tests.conftest import ROOT
from tests.faults.streams import (
    SCORES,
    SUBMISSION_REQUESTS,
    SUBMISSIONS,
    Item,
    accepted_event,
    assert_reported_once,
    assert_scored_once,
    body_for,
    new_key,
    post_until_accepted,
    requested_event,
    stored,
    topic_records,
    units_of,
)
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2062
NOW = f"{PERIOD}-11-20T09:00:00+07:00"
INTAKE_DLQ = "emulation.submission-requests.dlq.v1"
DEAD_LETTERS = "emulation.dead-letters.v1"
REASONS = {"bad-envelope", "unknown-schema", "too-large"}
# The detail each of the escaped kinds is dead-lettered with (all `bad-envelope`).
ESCAPED = {"suffix": "dataschema", "deep": "nests deeper", "digits": "not JSON"}
HEADERS = [("x-poison", b"faults")]
# Over every consumer's record limit, under Kafka's 1 MiB (the envelope adds ~4 KB).
OVERSIZE = ServiceSettings().record_limit() + 4_000
assert OVERSIZE + 8_000 < 1_048_576


def bad_records(marker: str, event: dict[str, Any], grow: Any) -> list[bytes]:
    """Poison, the same event at schema version 9, the event grown past the limit, and
    the escaped kinds; every value starts with `marker`, so its dead letter can be told
    apart."""
    poison = f"{marker}-poison: not an event".encode()
    v9 = dict(event, id=f"{marker}-v9")
    v9["dataschema"] = v9["dataschema"].rsplit(":v", 1)[0] + ":v9"
    big = copy.deepcopy(dict(event, id=f"{marker}-big"))
    grow(big["data"], "x" * OVERSIZE)
    values = [poison, encode_first_id(v9), encode_first_id(big)]
    assert len(values[2]) > ServiceSettings().record_limit()
    suffix = dict(event, id=f"{marker}-suffix")
    suffix["dataschema"] = suffix["dataschema"].rsplit(":v", 1)[0] + ":vX"
    values.append(encode_first_id(suffix))
    for kind, tail in (("deep", "[" * 5000 + "]" * 5000), ("digits", "7" * 5000)):
        text = encode_first_id(dict(event, id=f"{marker}-{kind}")).decode()
        values.append(f'{text[:-1]}, "x": {tail}}}'.encode())
    return values


def encode_first_id(event: dict[str, Any]) -> bytes:
    return json.dumps({"id": event["id"], **event}, ensure_ascii=False).encode()


def test_poison_unknown_versions_and_oversized_records_are_dead_lettered_and_skipped(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack = clock
    stack.set_clock(NOW)
    units = units_of(stack, PERIOD)
    kafka_unit, http_unit = units[5], units[6]
    marker = f"faults-{uuid.uuid4().hex[:10]}"

    good_request = Item(kafka_unit, body_for(example_request, kafka_unit, PERIOD, 8, "good"),
                        f"{marker}-good", way="kafka")
    request = json.loads(requested_event(good_request))
    accepted = accepted_event(http_unit, PERIOD, body_for(example_request, http_unit,
                                                          PERIOD, 7, "bad")).to_dict()
    score = json.loads((ROOT / "schemas/examples/score-computed.json").read_text())
    score["data"].update(unit_id=http_unit, period=PERIOD)
    score.update(subject=http_unit, source="urn:emulation:producer:faults")

    def grow_body(data: dict[str, Any], filler: str) -> None:
        data["notes"] = filler

    def grow_content(data: dict[str, Any], filler: str) -> None:
        data["content"]["notes"] = filler

    def grow_score(data: dict[str, Any], filler: str) -> None:
        data["breakdown"][0]["explanation"] = filler

    sent: dict[str, list[tuple[int, int]]] = defaultdict(list)  # topic: (partition, offset)
    producer = stack.producer()
    try:
        for topic, key, values in (
                (SUBMISSION_REQUESTS, kafka_unit, bad_records(marker, request, grow_body)),
                (SUBMISSIONS, http_unit, bad_records(marker, accepted, grow_content)),
                (SCORES, http_unit, bad_records(marker, score, grow_score))):
            for value in values:
                # Requests carry their unit's proof, so each is refused for what it is.
                proof = stack.proof(key, value) if topic == SUBMISSION_REQUESTS else []
                meta = producer.send(topic, key=key.encode(), value=value,
                                     headers=HEADERS + proof).get(timeout=60)
                sent[topic].append((meta.partition, meta.offset))
        # Good records behind them, on the same keys (so the same partitions):
        good = requested_event(good_request)
        producer.send(SUBMISSION_REQUESTS, key=kafka_unit.encode(), value=good,
                      headers=stack.proof(kafka_unit, good)).get(timeout=60)
    finally:
        producer.close()
    # ... and the HTTP intake publishes the unit's submission, then scoring its score.
    post_until_accepted(stack, Item(http_unit, body_for(example_request, http_unit, PERIOD,
                                                        9, "good"), new_key("poison")))

    docs = wait_for("the good Kafka-way record to be stored", lambda: [
        d for d in stored(stack, kafka_unit, PERIOD) if d["status"] == "accepted"], timeout=180)
    assert [d["content"]["notes"] for d in docs] == ["good"]
    good_request.receipt = docs[0]
    http_receipt = stored(stack, http_unit, PERIOD)
    latest = {kafka_unit: docs[0], http_unit: http_receipt[-1]}
    assert_scored_once(stack, PERIOD, latest)
    report = assert_reported_once(stack, PERIOD, latest, expected=100)
    row = next(u for u in report["units"] if u["unit_id"] == http_unit)
    assert row["score"] is not None  # reporting read the score behind the bad records

    expected = {  # (dead-letter topic, source topic): the consumers that must refuse them
        (INTAKE_DLQ, SUBMISSION_REQUESTS): {"submissions-intake"},
        (DEAD_LETTERS, SUBMISSIONS): {"scoring", "notifications", "reporting"},
        (DEAD_LETTERS, SCORES): {"reporting"},
    }
    for (dlq, source), consumers in expected.items():
        def found(d: str = dlq, s: str = source, want: int = 6 * len(consumers)) -> Any:
            rows = topic_records(stack.cfg.kafka_bootstrap, d, lambda e: e.get(
                "data", {}).get("topic") == s and e["data"]["value"].startswith(
                    (marker, '{"id": "' + marker)))
            return rows if len(rows) >= want else None

        rows = wait_for(f"dead letters of {source}", found, timeout=120)
        by_consumer: dict[str, set[str]] = defaultdict(set)
        for letter in rows:
            data = letter["data"]
            by_consumer[data["consumer"]].add(data["reason"])
            assert (data["partition"], data["offset"]) in sent[source], data
            assert data["detail"], data
            assert len(data["value"]) <= 100_000  # the oversized value is cut, not dropped
            assert {"key": "x-poison", "value": "faults", "value_encoding": "utf-8"} in data[
                "headers"], data["headers"]
            for kind, words in ESCAPED.items():
                if data["value"].startswith('{"id": "' + f"{marker}-{kind}"):
                    assert (data["reason"], words in data["detail"]) == (
                        "bad-envelope", True), data
        assert by_consumer == {c: REASONS for c in consumers}, (source, dict(by_consumer))
        assert len(rows) == 6 * len(consumers)  # each refused once per consumer
