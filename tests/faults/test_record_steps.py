"""No record is acknowledged without its writes or its dead letter, whatever fails and
wherever: a failure is injected into scoring (the consumer that writes and then produces)
at each step of a record (before its handler, between its writes and its produce, after
the produce, after the batch before its offsets are acknowledged), as a transient
failure, a permanent one, or a crash of the process (as kill -9). Real Kafka, real
FerretDB; the failure is armed through the test-only route of a service started with
`EMULATION_FAULT_INJECTION=true` (services/common/faults.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.procs import port_open
from tests.faults.streams import (
    SUBMISSIONS,
    accepted_event,
    body_for,
    ensure_running,
    topic_records,
    units_of,
)
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2056  # this file's own period (no other test uses it)
NOW = f"{PERIOD}-11-20T09:00:00+07:00"
SCORES = "emulation.scores.v1"
DEAD_LETTERS = "emulation.dead-letters.v1"
# (step, kind, times, the topic the fault is limited to, what must come of the record)
CASES = [
    ("before-handler", "transient", 2, None, "scored"),
    ("before-produce", "transient", 2, SCORES, "scored"),
    ("before-handler", "permanent", 3, None, "dead-lettered, nothing stored"),
    ("before-produce", "permanent", 3, SCORES, "dead-lettered, score stored"),
    ("before-handler", "crash", 1, None, "scored"),
    ("before-produce", "crash", 1, SCORES, "scored"),
    ("after-produce", "crash", 1, SCORES, "scored"),
    ("before-ack", "crash", 1, None, "scored"),
]


@pytest.fixture(scope="module")
def units(stack: Stack) -> Iterator[list[str]]:
    found = [u for u in units_of(stack, PERIOD) if u.startswith("police:")]
    assert len(found) >= len(CASES)
    yield found
    ensure_running(stack, NOW)


def arm(stack: Stack, step: str, kind: str, times: int, topic: str | None) -> None:
    params: dict[str, Any] = {"step": step, "kind": kind, "times": times}
    if topic:
        params["topic"] = topic
    with stack.as_operator("scoring") as c:
        r = c.post("/v1/admin/faults/arm", params=params)
    assert r.status_code == 200, r.text


def score_events(stack: Stack, unit: str) -> list[dict[str, Any]]:
    return topic_records(stack.cfg.kafka_bootstrap, SCORES, lambda e: (
        e.get("type") == "vn.emulation.score.computed" and e["data"].get("unit_id") == unit
        and e["data"].get("period") == PERIOD))


def letters(stack: Stack, event_id: str) -> list[dict[str, Any]]:
    def mine(letter: dict[str, Any]) -> bool:
        data = letter.get("data", {})
        if data.get("consumer") != "scoring" or data.get("value_encoding") != "utf-8":
            return False
        try:
            return bool(json.loads(data["value"]).get("id") == event_id)
        except (ValueError, RecursionError, AttributeError):  # other tests' poison
            return False

    return topic_records(stack.cfg.kafka_bootstrap, DEAD_LETTERS, mine)


def score_in_force(stack: Stack, unit: str) -> dict[str, Any] | None:
    with stack.as_operator("scoring") as c:
        r = c.get(f"/v1/scores/{unit}", params={"period": PERIOD})
    return r.json() if r.status_code == 200 else None


@pytest.mark.parametrize("case", range(len(CASES)),
                         ids=[f"{c[1]}-{c[0]}" for c in CASES])
def test_a_failure_at_each_step_leaves_the_record_written_or_dead_lettered(
        clock: Stack, units: list[str], example_request: dict[str, Any], case: int) -> None:
    stack = clock
    step, kind, times, topic, outcome = CASES[case]
    unit = units[case]
    ensure_running(stack, NOW)
    stack.set_clock(NOW)
    arm(stack, step, kind, times, topic)
    event = accepted_event(unit, PERIOD, body_for(example_request, unit, PERIOD, 7, step))
    producer = stack.producer()
    try:
        producer.send(SUBMISSIONS, key=unit.encode(), value=event.to_bytes()).get(60)
    finally:
        producer.close()

    if kind == "crash":
        proc = stack.proc("scoring")
        wait_for("scoring to die at the armed step", lambda: proc.pid() is None,
                 timeout=120)
        wait_for("scoring's port to close",
                 lambda: not port_open(stack.cfg.service_ports["scoring"]), timeout=30)
        stack.start("scoring")
        stack.set_clock(NOW, services=("scoring",))

    if outcome == "scored":
        score = wait_for(f"{unit}'s score after a {kind} failure at {step}",
                         lambda: score_in_force(stack, unit), timeout=240)
        assert score["submission_id"] == event.data["submission_id"]
        published = wait_for("its score event", lambda: score_events(stack, unit) or None,
                             timeout=60)
        # Redelivered after a crash, the record republishes the very same event.
        assert len({e["id"] for e in published}) == 1, published
        assert published[-1]["data"]["submission_id"] == event.data["submission_id"]
        assert letters(stack, event.id) == []
        return

    [letter] = wait_for("the record's dead letter",
                        lambda: letters(stack, event.id) or None, timeout=120)
    assert letter["data"]["reason"] == "handler-error"
    assert "injected permanent fault" in letter["data"]["detail"]
    if outcome == "dead-lettered, nothing stored":
        assert score_in_force(stack, unit) is None and score_events(stack, unit) == []
    else:  # the score was written before the failure: kept, never published
        assert score_in_force(stack, unit) is not None and score_events(stack, unit) == []
    # The partition moved on: a later record of the same unit is scored.
    later = accepted_event(unit, PERIOD, body_for(example_request, unit, PERIOD, 9, "after"),
                           revision=2)
    producer = stack.producer()
    try:
        producer.send(SUBMISSIONS, key=unit.encode(), value=later.to_bytes()).get(60)
    finally:
        producer.close()
    wait_for("the next record to be scored", lambda: (
        (s := score_in_force(stack, unit)) is not None and s["revision"] == 2), timeout=120)


def test_a_fault_route_refuses_a_step_or_kind_it_does_not_know(clock: Stack) -> None:
    with clock.as_operator("scoring") as c:
        assert c.post("/v1/admin/faults/arm",
                      params={"step": "later", "kind": "crash"}).status_code == 422
        assert c.post("/v1/admin/faults/arm",
                      params={"step": "before-ack", "kind": "transient"}).status_code == 422
    with httpx.Client(base_url=clock.cfg.service_url("scoring"), timeout=10) as c:
        assert c.post("/v1/admin/faults/arm", params={
            "step": "before-handler", "kind": "crash"}).status_code == 401
