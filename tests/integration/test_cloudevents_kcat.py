"""The CloudEvents Kafka protocol binding on the Kafka way in, with kcat as an outside
system would send (docs/submissions.md): a structured-mode record (the envelope is the
value, `content-type: application/cloudevents+json`) and a binary-mode record (`ce_*`
headers, the value is the data, `content-type: application/json`) are both stored; a
malformed binary record is dead-lettered with its reason and stores nothing. Each request
is signed over its value bytes with its unit's key (docs/kafka-security.md)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.kafka_acls import MINISTRY
from services.common.topics import SUBMISSION_REQUESTS, SUBMISSION_REQUESTS_DLQ
from services.submissions.proof import signed_headers
from services.submissions.send_request import DATASCHEMA, REQUESTED, request_record
from tests.conftest import ROOT, request_for
from tests.kcat import Kcat, find_kcat
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2089  # this file's own period: no other test submits for it
UNITS = ("province:ha-noi", "province:hue", "province:can-tho", "province:lao-cai")


@pytest.fixture(scope="module")
def kcat() -> Kcat:
    found = find_kcat(ROOT / ".local" / "kcat")
    if isinstance(found, str):
        pytest.skip(f"kcat unavailable: {found}")
    return found


@pytest.fixture
def season(clock: Stack) -> Iterator[Stack]:
    clock.set_clock(f"{PERIOD}-11-20T09:00:00+07:00")
    yield clock


def key_of(stack: Stack, unit: str) -> tuple[str, str]:
    entry = json.loads(stack.cfg.unit_keys.read_text())[unit]
    return str(entry["key_id"]), str(entry["key"])


def body(example: dict[str, Any], unit: str, marker: str) -> dict[str, Any]:
    doc = request_for(example, unit, PERIOD)
    doc["notes"] = marker
    return doc


def produce(stack: Stack, kcat: Kcat, unit: str, value: bytes,
            headers: list[tuple[str, bytes]]) -> None:
    kcat.produce(stack.cfg.kafka_bootstrap, stack.cfg.kafka_auth(MINISTRY),
                 SUBMISSION_REQUESTS, unit.encode(), value, headers,
                 stack.cfg.state / "kcat" / uuid.uuid4().hex)


def binary_record(stack: Stack, doc: dict[str, Any], *, without: str = "",
                  content_type: bytes = b"application/json") -> tuple[bytes, list[Any]]:
    """The binary mode: the request body is the value, the attributes are `ce_*`
    headers; the signature covers `ce_id` and the value."""
    unit = str(doc["unit_id"])
    value = json.dumps(doc, ensure_ascii=False).encode()
    attributes = {"specversion": "1.0", "id": str(uuid.uuid4()),
                  "source": "urn:emulation:system:ministry", "type": REQUESTED,
                  "subject": unit, "time": datetime.now(UTC).isoformat(),
                  "dataschema": DATASCHEMA}
    headers: list[Any] = [("content-type", content_type),
                          *((f"ce_{k}", v.encode()) for k, v in attributes.items()
                            if k != without)]
    return value, [*headers, *signed_headers(*key_of(stack, unit), value, headers)]


def stored(stack: Stack, unit: str, marker: str) -> list[dict[str, Any]]:
    with stack.as_operator("submissions") as c:
        r = c.get(f"/v1/units/{unit}/submissions", params={"period": PERIOD})
    assert r.status_code == 200, r.text
    return [d for d in r.json() if d["content"].get("notes") == marker]


def test_a_binary_mode_request_sent_with_kcat_is_stored(
        season: Stack, kcat: Kcat, example_request: dict[str, Any]) -> None:
    stack, unit, marker = season, UNITS[0], f"binary-{uuid.uuid4().hex}"
    value, headers = binary_record(stack, body(example_request, unit, marker))
    produce(stack, kcat, unit, value, headers)
    [doc] = wait_for("the binary-mode request to be stored",
                     lambda: stored(stack, unit, marker), timeout=60)
    assert doc["content"]["notes"] == marker


def test_a_structured_mode_request_sent_with_kcat_is_stored(
        season: Stack, kcat: Kcat, example_request: dict[str, Any]) -> None:
    stack, unit, marker = season, UNITS[1], f"structured-{uuid.uuid4().hex}"
    record = request_record(body(example_request, unit, marker), *key_of(stack, unit))
    produce(stack, kcat, unit, record.value,
            [("content-type", b"application/cloudevents+json; charset=UTF-8"),
             *record.headers])
    [doc] = wait_for("the structured-mode request to be stored",
                     lambda: stored(stack, unit, marker), timeout=60)
    assert doc["content"]["notes"] == marker


@pytest.mark.parametrize("flaw, detail", [
    ("no ce_type", "binary mode: missing envelope attributes: type"),
    ("xml", "binary mode: content-type 'application/xml' is not application/json"),
])
def test_a_malformed_binary_request_is_dead_lettered_with_its_reason(
        season: Stack, kcat: Kcat, example_request: dict[str, Any], flaw: str,
        detail: str) -> None:
    stack, unit, marker = season, UNITS[2], f"malformed-{uuid.uuid4().hex}"
    value, headers = binary_record(
        stack, body(example_request, unit, marker), without="type" if flaw == "no ce_type"
        else "", content_type=b"application/xml" if flaw == "xml" else b"application/json")
    produce(stack, kcat, unit, value, headers)
    rows = stack.read_topic(SUBMISSION_REQUESTS_DLQ,
                            lambda e: marker in e.get("data", {}).get("value", ""), timeout=60)
    assert rows, f"no dead letter for {marker}"
    letter = rows[0]["data"]
    assert letter["reason"] == "bad-envelope" and letter["detail"].startswith(detail), letter
    assert {h["key"] for h in letter["headers"]} >= {"ce_specversion", "emulation-signature"}
    assert stored(stack, unit, marker) == []


def test_a_binary_request_whose_subject_is_another_unit_is_unauthenticated(
        season: Stack, kcat: Kcat, example_request: dict[str, Any]) -> None:
    """`ce_subject` is outside the signature: it must name the signing key's unit."""
    stack, unit, marker = season, UNITS[3], f"subject-{uuid.uuid4().hex}"
    value, headers = binary_record(stack, body(example_request, unit, marker))
    headers = [(k, UNITS[0].encode() if k == "ce_subject" else v) for k, v in headers]
    produce(stack, kcat, unit, value, headers)
    rows = stack.read_topic(SUBMISSION_REQUESTS_DLQ,
                            lambda e: marker in e.get("data", {}).get("value", ""), timeout=60)
    assert rows and rows[0]["data"]["reason"] == "unauthenticated", rows
    assert stored(stack, unit, marker) == [] and stored(stack, UNITS[0], marker) == []
