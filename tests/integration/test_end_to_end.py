"""The minimal flow on the real stack: HTTP -> submissions DB -> Kafka -> scoring ->
notifications -> reporting, each step checked where its owner shows it."""

from __future__ import annotations

from typing import Any

import pytest

from services.common import schemas
from tests.conftest import request_for
from tests.stackfixture import UNITS_FROM_2025, Stack, counted, unique_key, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2026


def submit(stack: Stack, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    with stack.client("submissions", stack.token(body["unit_id"])) as c:
        return c.post("/v1/submissions", json=body, headers=headers)


def test_every_service_is_ready_and_exposes_metrics(stack: Stack) -> None:
    for name in ("submissions", "scoring", "notifications", "reporting"):
        with stack.client(name) as c:
            ready = c.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"kafka": "ok", "mongodb": "ok"}
            assert c.get("/healthz").json() == {"status": "ok"}
            text = c.get("/metrics").text
            assert "http_requests_total" in text
            assert "events_consumed_total" in text
            assert c.get("/openapi.json").status_code == 200


def test_submission_flows_through_every_service(stack: Stack, example_request: dict) -> None:
    unit = "province:quang-ninh"
    body = request_for(example_request, unit, PERIOD)
    r = submit(stack, body, unique_key())
    assert r.status_code == 202, r.text
    receipt = r.json()
    assert {"submission_id", "unit_id", "period", "revision", "on_time", "received_at"} <= set(
        receipt)
    assert receipt["unit_id"] == unit and receipt["period"] == PERIOD
    assert receipt["on_time"] is True

    with stack.client("submissions", stack.token(unit)) as c:
        stored = c.get(f"/v1/submissions/{receipt['submission_id']}").json()
    assert stored["content"] == body

    events = stack.read_topic("emulation.submissions.v1",
                              lambda e: e.get("id") == receipt["submission_id"])
    assert events, "the accepted submission is on emulation.submissions.v1"
    event = events[0]
    assert "traceparent" in event["_headers"]
    # The CloudEvents Kafka binding's structured mode (and so every produced record).
    assert event["_headers"]["content-type"].startswith(b"application/cloudevents+json")
    event.pop("_headers")
    assert schemas.errors("submission-accepted.v2", event) == []

    with stack.client("scoring", stack.token(unit)) as c:
        score = wait_for("the score", lambda: (
            r := c.get(f"/v1/scores/{unit}", params={"period": PERIOD})).status_code == 200
            and r.json())
    assert score["submission_id"] == receipt["submission_id"]
    assert score["total"] == pytest.approx(sum(line["points"] for line in score["breakdown"]))
    scored = stack.read_topic("emulation.scores.v1", lambda e: e.get("subject") == unit
                              and e["data"]["submission_id"] == receipt["submission_id"])
    scored[0].pop("_headers")
    assert schemas.errors("score-computed.v2", scored[0]) == []

    with stack.as_operator("notifications") as c:
        deadline = wait_for("notifications to see the unit", lambda: (
            d := c.get(f"/v1/deadlines/{PERIOD}").json()) and counted(d, unit) and d)
    # toan-dan (the default): every unit but the 34 provincial police (vi-an-ninh)
    assert deadline["expected"] == UNITS_FROM_2025 - 34 and deadline["movement"] == "toan-dan"
    assert deadline["submitted"] >= 1

    with stack.as_operator("reporting") as c:
        report = wait_for("reporting to count it", lambda: (
            rep := c.get("/v1/reports/national", params={"period": PERIOD}).json())
            and counted(rep, unit) and rep)
        csv_text = c.get("/v1/reports/national",
                         params={"period": PERIOD, "format": "csv"}).text
    assert report["by_type"]["province"]["submitted"] >= 1
    assert report["submitted"] == report["expected"] - len(report["missing"])
    assert 0 < report["completeness"] <= 1
    assert csv_text.startswith("scope,name,expected")


def test_restarted_scoring_service_loses_no_accepted_submission(
        stack: Stack, example_request: dict) -> None:
    units = ["province:lang-son", "province:cao-bang", "province:son-la"]
    scoring = stack.proc("scoring")
    scoring.kill9()
    receipts = []
    for unit in units:
        r = submit(stack, request_for(example_request, unit, PERIOD), unique_key())
        assert r.status_code == 202, r.text  # intake does not depend on scoring
        receipts.append(r.json())
    stack.start("scoring")
    with stack.as_operator("scoring") as c:
        for receipt in receipts:
            unit = receipt["unit_id"]
            score = wait_for(f"score of {unit}", lambda u=unit: (
                r := c.get(f"/v1/scores/{u}", params={"period": PERIOD})).status_code == 200
                and r.json())
            assert score["submission_id"] == receipt["submission_id"]
