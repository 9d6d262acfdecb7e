"""One submission, one trace: the W3C context crosses Kafka into every service; and the
metric families operators rely on move when events flow."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from services.common.topics import SCORES, SUBMISSIONS
from tests.conftest import request_for
from tests.stackfixture import Stack, unique_key, wait_for

pytestmark = pytest.mark.integration
SERVICES = ("submissions", "scoring", "notifications", "reporting")


PERIOD = 2088  # this file's own period for the trace tree: no other test submits for it
REMINDER_PERIOD = 2094  # and for the reminder's trace: no other test uses 2094


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
    # A consumer's span is written once it ends, after its database spans (its
    # children): wait for the consumer spans themselves, not for any span of a service.
    found = wait_for("consumer spans from all four services", lambda: (
        spans := spans_with(stack, trace_id)) and set(spans) == set(SERVICES) and all(
            any(s["name"] == f"{SUBMISSIONS} process" for s in spans[svc])
            for svc in ("scoring", "notifications", "reporting")) and spans)
    assert any(s["name"] == "submissions.submit" for s in found["submissions"])
    assert any(s["name"] == "scoring.score" for s in found["scoring"])
    consumers = [s for svc in ("scoring", "notifications", "reporting") for s in found[svc]
                 if s["name"].startswith("emulation.submissions.v1")]
    assert len(consumers) >= 3  # one consumer span per service, all in the caller's trace


def test_one_submission_s_trace_is_one_tree_of_http_database_and_kafka_spans(
        clock: Stack, example_request: dict) -> None:
    """The instrumentations' spans (FastAPI, pymongo, aiokafka) and the record loop's
    processing spans make one tree: the POST is the root, every span's parent is in the
    trace, and each service's consumer span is the child of the producer span of the
    record it processed."""
    stack = clock
    stack.set_clock(f"{PERIOD}-11-20T09:00:00+07:00")
    unit = "ministry:foreign-affairs"
    trace_id = secrets.token_hex(16)
    caller = secrets.token_hex(8)  # the ministry's own span: the POST's remote parent
    with stack.client("submissions", stack.token(unit)) as c:
        r = c.post("/v1/submissions", json=request_for(example_request, unit, PERIOD),
                   headers={"Idempotency-Key": unique_key(),
                            "traceparent": f"00-{trace_id}-{caller}-01"})
    assert r.status_code == 202, r.text

    def complete() -> list[dict[str, Any]]:
        found = spans_with(stack, trace_id)
        spans = [s for svc in found.values() for s in svc]
        processed = {s["service"] for s in spans
                     if s["name"] == f"{SUBMISSIONS} process"}
        ids = {s["span_id"] for s in spans}
        # Each service writes its spans every 200 ms: a consumer's may come before the
        # producer's span it points to.
        linked = all(s["parent_id"] in ids for s in spans if s["name"].endswith(" process"))
        return spans if linked and processed >= {"scoring", "notifications", "reporting"} \
            and any(s["name"] == f"{SCORES} process" for s in spans) else []

    spans = wait_for("the trace to reach all four services", complete, timeout=60)
    by_id = {s["span_id"]: s for s in spans}
    [root] = [s for s in spans if s["parent_id"] not in by_id]
    assert (root["service"], root["name"]) == ("submissions", "POST /v1/submissions")
    assert root["parent_id"] == caller
    assert root["attributes"]["http.route"] == "/v1/submissions"

    def ancestors(span: dict[str, Any]) -> list[str]:
        chain = []
        while span["parent_id"] in by_id:
            span = by_id[span["parent_id"]]
            chain.append(span["name"])
        return chain

    for service in SERVICES:  # every service wrote to its database within this trace
        assert any(s["service"] == service and s["attributes"].get("db.system") == "mongodb"
                   for s in spans), service
    sends = {s["span_id"]: s for s in spans if s["name"].endswith(" send")}
    produced = [s for s in sends.values() if s["attributes"].get(
        "messaging.destination.name") == SUBMISSIONS and s["service"] == "submissions"]
    assert produced and produced[0]["attributes"]["messaging.system"] == "kafka"
    for span in spans:
        if span["name"].endswith(" process"):
            topic = span["name"].removesuffix(" process")
            parent = sends[span["parent_id"]]
            assert parent["attributes"]["messaging.destination.name"] == topic
    # The scores a submission produced in scoring reach reporting in the same tree.
    [scored] = [s for s in spans if s["name"] == f"{SCORES} process"
                and s["service"] == "reporting"]
    assert ancestors(scored)[-1] == "POST /v1/submissions"
    assert {"scoring.score", f"{SUBMISSIONS} process", f"{SUBMISSIONS} send"} <= set(
        ancestors(scored))


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


def test_an_audited_action_records_the_trace_of_its_request(stack: Stack) -> None:
    """The audit record names the trace of the request that made it (the FastAPI
    instrumentation's server span, continued from the caller's traceparent)."""
    trace_id = secrets.token_hex(16)
    with stack.as_operator("notifications") as c:
        r = c.post("/v1/admin/providers/reset",
                   headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
        assert r.status_code == 200, r.text
        trail = c.get("/v1/audit", params={"limit": 50})
    assert trail.status_code == 200, trail.text
    assert [rec["trace_id"] for rec in trail.json()["records"]
            if rec["trace_id"] == trace_id] == [trace_id]
    server = wait_for("the action's server span", lambda: [
        s for s in spans_with(stack, trace_id).get("notifications", ())
        if s["name"] == "POST /v1/admin/providers/reset"])
    assert server[0]["attributes"]["http.route"] == "/v1/admin/providers/reset"


def test_a_reminder_s_trace_holds_the_pass_the_database_and_the_outgoing_sms_call(
        clock: Stack) -> None:
    """An operator's tick sends an SMS through the HTTP gateway (SMPP made to fail): the
    httpx instrumentation's client span is the child of the provider's send, in a trace
    that also holds the pass's database commands. The scheduler's own timer may run the
    pass first: then its trace is the one checked, rooted at `notifications.pass`."""
    from tests.integration.season_support import put_campaign, reset_providers, units_of, when

    stack, period = clock, REMINDER_PERIOD
    registry = units_of(stack, period)
    unit = next(u for u, c in sorted(registry.items())
                if u.startswith("ministry:") and c["phones"])
    put_campaign(stack, period, [unit], channels=["sms"])
    fail_smpp = stack.sinks_dir / "fail-smpp"
    trace_id = secrets.token_hex(16)
    try:
        fail_smpp.touch()
        stack.set_clock(when(period, "d-7"))
        with stack.as_operator("notifications") as c:
            r = c.post("/v1/admin/tick", timeout=180,
                       headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
        assert r.status_code == 200, r.text

        def sms_call() -> list[dict[str, Any]]:
            spans = [json.loads(line) for line in (Path(stack.cfg.state) / "traces" /
                     "notifications.jsonl").read_text().splitlines()]
            sends = {s["span_id"] for s in spans if s["name"] == "notifications.send"
                     and s["attributes"].get("emulation.period") == period
                     and s["attributes"].get("notification.channel") == "sms"}
            gateway = {s["span_id"] for s in spans
                       if s["name"] == "notifications.provider.send"
                       and s["parent_id"] in sends
                       and s["attributes"].get("notification.provider") == "http-sms"}
            calls = [s for s in spans if s["parent_id"] in gateway and s["name"] == "POST"]
            if not calls:
                return []
            found = [s for s in spans if s["trace_id"] == calls[0]["trace_id"]]
            ids = {s["span_id"] for s in found}
            # Complete once its root (written last, when the pass or request ends) is in.
            return found if sum(s["parent_id"] not in ids for s in found) == 1 else []

        spans = wait_for("the SMS gateway call's span", sms_call, timeout=60)
    finally:
        fail_smpp.unlink(missing_ok=True)
        reset_providers(stack)
    by_id = {s["span_id"]: s for s in spans}
    [call] = [s for s in spans if s["name"] == "POST" and s["parent_id"] in by_id
              and by_id[s["parent_id"]]["name"] == "notifications.provider.send"][:1]
    assert str(call["attributes"].get("url.full", call["attributes"].get("http.url", ""))
               ).endswith("/sms"), call["attributes"]
    assert any(s["attributes"].get("db.system") == "mongodb" for s in spans)
    roots = {s["name"] for s in spans if s["parent_id"] not in by_id}
    assert roots <= {"POST /v1/admin/tick", "notifications.pass"}, roots
    if "POST /v1/admin/tick" in roots:
        assert call["trace_id"] == trace_id  # the operator's own trace
