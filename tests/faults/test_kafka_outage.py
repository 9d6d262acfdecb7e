"""Kafka stopped mid-stream: the intake answers 503 and never acknowledges what Kafka
did not take; once Kafka is back a retry with the same key succeeds exactly once, and
the consumers recover without losing the submission."""

from __future__ import annotations

from typing import Any

import pytest

from devstack import parts
from tests.conftest import request_for
from tests.stackfixture import Stack, counted, unique_key, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2026


def post(stack: Stack, body: dict[str, Any], key: str) -> Any:
    with stack.client("submissions", stack.token(body["unit_id"])) as c:
        return c.post("/v1/submissions", json=body, headers={"Idempotency-Key": key})


def test_intake_refuses_while_kafka_is_down_and_a_retry_succeeds_once(
        stack: Stack, example_request: dict) -> None:
    unit = "organization:vietnam-news-agency"
    body = request_for(example_request, unit, PERIOD)
    key = unique_key()
    with stack.as_operator("reporting") as c:
        wait_for("reporting's copy of the registry", lambda: c.get(
            "/v1/reports/national", params={"period": PERIOD}).json()["expected"] == 66)
    kafka = stack.proc("kafka")
    assert kafka.stop(timeout=60)
    try:
        down = post(stack, body, key)
        assert down.status_code == 503, down.text
        assert down.headers["content-type"].startswith("application/problem+json")
        assert "Retry-After" in down.headers
        with stack.client("submissions", stack.token(unit)) as c:
            stored = c.get(f"/v1/units/{unit}/submissions", params={"period": PERIOD}).json()
        # Stored, but not presented as accepted: no receipt was given.
        assert [s["status"] for s in stored] == ["pending"]
        with stack.client("submissions") as c:
            assert c.get("/readyz").status_code == 503
    finally:
        parts.start_kafka(stack.cfg)

    def retry() -> Any:
        r = post(stack, body, key)
        return r if r.status_code == 202 else None

    receipt = wait_for("a 202 once Kafka is back", retry, timeout=90).json()
    assert receipt["revision"] == 1
    with stack.client("submissions", stack.token(unit)) as c:
        stored = c.get(f"/v1/units/{unit}/submissions", params={"period": PERIOD}).json()
    assert [(s["revision"], s["status"]) for s in stored] == [(1, "accepted")]
    # The consumers came back too: the submission is scored and reported, once.
    with stack.as_operator("scoring") as c:
        score = wait_for("the score after the outage", lambda: (
            r := c.get(f"/v1/scores/{unit}", params={"period": PERIOD})).status_code == 200
            and r.json(), timeout=90)
    assert score["submission_id"] == receipt["submission_id"]
    with stack.as_operator("reporting") as c:
        report = wait_for("the report after the outage", lambda: (
            rep := c.get("/v1/reports/national", params={"period": PERIOD}).json())
            and counted(rep, unit) and rep, timeout=60)
    assert report["by_type"]["organization"]["submitted"] >= 1
    events = stack.read_topic("emulation.submissions.v1",
                              lambda e: e.get("id") == receipt["submission_id"],
                              timeout=10, count=5)
    assert 1 <= len(events) <= 2  # at-least-once: a relay and a retry may both publish
