"""One submission, one trace: the W3C context crosses Kafka into every service; and the
metric families operators rely on move when events flow."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import request_for
from tests.stackfixture import Stack, unique_key, wait_for

pytestmark = pytest.mark.integration
SERVICES = ("submissions", "scoring", "notifications", "reporting")


def spans_with(stack: Stack, trace_id: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for service in SERVICES:
        path = Path(stack.cfg.state) / "traces" / f"{service}.jsonl"
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            span = json.loads(line)
            if span["trace_id"] == trace_id:
                found.setdefault(service, []).append(span)
    return found


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        named = line.startswith((name + "{", name + " "))
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_one_submission_is_one_trace_across_all_four_services(
        stack: Stack, example_request: dict) -> None:
    unit = "organization:vietnam-national-university-hanoi"
    trace_id = secrets.token_hex(16)
    parent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    with stack.client("submissions", stack.token(unit)) as c:
        r = c.post("/v1/submissions", json=request_for(example_request, unit, 2026),
                   headers={"Idempotency-Key": unique_key(), "traceparent": parent})
    assert r.status_code == 202, r.text
    found = wait_for("spans from all four services", lambda: (
        spans := spans_with(stack, trace_id)) and set(spans) == set(SERVICES) and spans)
    assert any(s["name"] == "submissions.submit" for s in found["submissions"])
    assert any(s["name"] == "scoring.score" for s in found["scoring"])
    consumers = [s for svc in ("scoring", "notifications", "reporting") for s in found[svc]
                 if s["name"].startswith("emulation.submissions.v1")]
    assert len(consumers) >= 3  # one consumer span per service, all in the caller's trace


def test_pipeline_metrics_move_when_events_flow(stack: Stack, example_request: dict) -> None:
    unit = "organization:viettel"
    with stack.client("scoring") as c:
        before = metric(c.get("/metrics").text, "events_consumed_total",
                        topic="emulation.submissions.v1", outcome="processed")
    with stack.client("submissions", stack.token(unit)) as c:
        produced_before = metric(c.get("/metrics").text, "events_produced_total",
                                 topic="emulation.submissions.v1")
        r = c.post("/v1/submissions", json=request_for(example_request, unit, 2026),
                   headers={"Idempotency-Key": unique_key()})
        assert r.status_code == 202
        text = c.get("/metrics").text
    assert metric(text, "events_produced_total",
                  topic="emulation.submissions.v1") == produced_before + 1
    assert metric(text, "http_requests_total", route="/v1/submissions", status="202") >= 1
    assert metric(text, "http_request_duration_seconds_count", route="/v1/submissions") >= 1
    with stack.client("scoring") as c:
        wait_for("scoring to count the event", lambda: metric(
            c.get("/metrics").text, "events_consumed_total", topic="emulation.submissions.v1",
            outcome="processed") > before)
        text = c.get("/metrics").text
    assert metric(text, "event_processing_delay_seconds_count",
                  topic="emulation.submissions.v1") >= 1
    assert 'kafka_consumer_lag_records{partition="' in text
