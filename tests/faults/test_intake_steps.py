"""The intake's group-committed write path, crashed at each step: after its batch's insert,
before and after its produce, before its answer. Four requests are in progress together
(one batch), the submissions service dies (as kill -9) when the first reaches the armed
step, and every client retries with its key after the restart: each gets one receipt,
one stored submission, one event id on the submissions topic (a copy of the same event
after a crash between the produce and the mark as published is the at-least-once ADR
0001 allows), scored once. Real Kafka, real FerretDB; the crash is armed through the
test-only route (`EMULATION_FAULT_INJECTION=true`, services/common/faults.py)."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from devstack.procs import port_open
from tests.faults.streams import (
    SUBMISSIONS,
    Item,
    assert_scored_once,
    body_for,
    ensure_running,
    new_key,
    post_until_accepted,
    stored,
    topic_records,
    units_of,
)
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
STEPS = ("intake-after-write", "intake-before-produce", "intake-after-produce",
         "intake-before-answer")
# This file's own periods (no other test uses them), one a step: scoring's events of a
# period are checked whole.
PERIODS = dict(zip(STEPS, range(2081, 2085), strict=True))
AT_ONCE = 4  # requests in progress together when the service dies


def first_attempt(stack: Stack, item: Item) -> httpx.Response | None:
    """One POST; None when the service died under it."""
    headers = {"Authorization": f"Bearer {stack.token(item.unit)}",
               "Idempotency-Key": item.key}
    try:
        with httpx.Client(base_url=stack.cfg.service_url("submissions"), timeout=60) as c:
            return c.post("/v1/submissions", json=item.body, headers=headers)
    except httpx.TransportError:
        return None


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_each_step_of_the_write_path_loses_and_doubles_nothing(
        clock: Stack, example_request: dict[str, Any], step: str) -> None:
    stack = clock
    period = PERIODS[step]
    now = f"{period}-11-20T09:00:00+07:00"
    ensure_running(stack, now)
    stack.set_clock(now)
    mine = [u for u in units_of(stack, period) if u.startswith("police:")][:AT_ONCE]
    assert len(mine) == AT_ONCE
    items = [Item(u, body_for(example_request, u, period, 7, f"{step} {u}"), new_key(step))
             for u in mine]
    with stack.as_operator("submissions") as c:
        r = c.post("/v1/admin/faults/arm", params={"step": step, "kind": "crash"})
    assert r.status_code == 200, r.text

    with ThreadPoolExecutor(AT_ONCE) as pool:
        first = list(pool.map(lambda i: first_attempt(stack, i), items))
    proc = stack.proc("submissions")
    wait_for(f"submissions to die at {step}", lambda: proc.pid() is None, timeout=60)
    wait_for("its port to close",
             lambda: not port_open(stack.cfg.service_ports["submissions"]), timeout=30)
    # The request that reached the step first got no answer; the others any of 202, a
    # broken connection, or a 503 while the service died.
    assert any(r is None for r in first), [r.status_code for r in first if r]
    stack.start("submissions")
    stack.set_clock(now, services=("submissions",))

    for item, answer in zip(items, first, strict=True):
        receipt = post_until_accepted(stack, item)
        if answer is not None and answer.status_code == 202:
            assert answer.json() == receipt  # answered before the crash: the same receipt
    for item in items:
        assert item.receipt is not None
        [doc] = wait_for(f"{item.unit} stored once and accepted", lambda u=item.unit: (
            (docs := stored(stack, u, period)) and all(
                d["status"] == "accepted" for d in docs) and docs), timeout=60)
        assert doc["submission_id"] == item.receipt["submission_id"]
    ids: dict[str, set[str]] = defaultdict(set)
    for e in topic_records(stack.cfg.kafka_bootstrap, SUBMISSIONS, lambda e: (
            e.get("type") == "vn.emulation.submission.accepted"
            and e["data"].get("period") == period and e["data"].get("unit_id") in mine)):
        ids[e["data"]["unit_id"]].add(e["id"])
    assert dict(ids) == {i.unit: {i.receipt["submission_id"]} for i in items if i.receipt}
    assert_scored_once(stack, period, {i.unit: i.receipt for i in items if i.receipt})


def test_an_intake_step_takes_only_a_crash(clock: Stack) -> None:
    with clock.as_operator("submissions") as c:
        r = c.post("/v1/admin/faults/arm",
                   params={"step": "intake-after-write", "kind": "transient"})
    assert r.status_code == 422 and "only a crash" in r.text
