"""The intake's promises over the real stack: clear 4xx answers, idempotency, Kafka intake
with a dead-letter topic that never blocks the partition."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.conftest import request_for
from tests.stackfixture import Stack, unique_key, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2026


def post(stack: Stack, token: str | None, content: Any, **headers: str) -> Any:
    with stack.client("submissions", token) as c:
        if isinstance(content, bytes | str):
            return c.post("/v1/submissions", content=content,
                          headers={"Content-Type": "application/json", **headers})
        return c.post("/v1/submissions", json=content, headers=headers)


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["type"] and body["detail"]
    return body


def test_bad_requests_get_problem_details(stack: Stack, example_request: dict) -> None:
    unit = "province:thanh-hoa"
    token = stack.token(unit)
    body = request_for(example_request, unit, PERIOD)
    assert_problem(post(stack, None, body), 401)
    assert_problem(post(stack, "not-a-token", body), 401)
    assert_problem(post(stack, stack.token("province:nghe-an"), body), 403)
    assert_problem(post(stack, token, b"{not json"), 400)
    assert_problem(post(stack, token, b"x" * 2_000_000), 413)
    wrong = dict(body, self_assessment={"M1": {"rating": 5}, "M2": {"rating": 5},
                                        "M3": {"rating": 5}, "M4": {"rating": 5}})
    problem = assert_problem(post(stack, token, wrong), 422)
    assert any(e["field"].startswith("self_assessment") for e in problem["errors"])
    bad_hash = json.loads(json.dumps(body))
    bad_hash["contents"]["implement_directives"]["evidence"][0]["sha256"] = "abc"
    problem = assert_problem(post(stack, token, bad_hash), 422)
    assert any("sha256" in e["field"] for e in problem["errors"])
    ghost = request_for(example_request, "province:atlantis", PERIOD)
    assert_problem(post(stack, stack.operator, ghost), 422)
    merged = request_for(example_request, "province:hoa-binh", PERIOD)
    problem = assert_problem(post(stack, stack.operator, merged), 422)
    assert "province:phu-tho" in problem["detail"]


def test_same_key_same_receipt_and_other_body_conflicts(stack: Stack,
                                                        example_request: dict) -> None:
    unit = "province:ha-tinh"
    body = request_for(example_request, unit, PERIOD)
    key = unique_key()
    first = post(stack, stack.token(unit), body, **{"Idempotency-Key": key})
    again = post(stack, stack.token(unit), body, **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = dict(body, notes="changed")
    assert_problem(post(stack, stack.token(unit), other, **{"Idempotency-Key": key}), 409)


def test_kafka_intake_stores_good_records_and_dead_letters_poison(
        stack: Stack, example_request: dict) -> None:
    unit = "province:dien-bien"
    good = request_for(example_request, unit, PERIOD)
    event_id = f"test-{uuid.uuid4()}"
    envelope = {"specversion": "1.0", "id": event_id, "source": "urn:test:producer",
                "type": "vn.emulation.submission.requested", "subject": unit,
                "time": "2026-11-20T02:00:00+00:00",
                "dataschema": "urn:emulation:schema:submission-requested:v1",
                "datacontenttype": "application/json", "data": good}
    poison_marker = f"poison-{uuid.uuid4()}"
    producer = stack.producer()
    try:
        # Same key, so same partition: the poison record comes first.
        for value in (poison_marker.encode(), json.dumps(envelope).encode()):
            producer.send("emulation.submission-requests.v1", key=unit.encode(), value=value,
                          headers=stack.proof(unit, value))
        producer.flush()
    finally:
        producer.close()
    with stack.client("submissions", stack.token(unit)) as c:
        subs = wait_for("the Kafka submission to be stored", lambda: c.get(
            f"/v1/units/{unit}/submissions", params={"period": PERIOD}).json())
    assert subs[-1]["content"] == good
    letters = stack.read_topic("emulation.submission-requests.dlq.v1",
                               lambda e: e.get("data", {}).get("value") == poison_marker)
    assert letters and letters[0]["data"]["reason"] == "bad-envelope"
