"""kill -9 of every service in turn while a stream of submissions flows (over HTTP and
straight into Kafka): after the restarts every accepted submission is stored once, scored
once at its latest revision, reported once and tracked once by notifications.

(No reminder is sent twice after a crash either: tests/integration/
test_notifications_faults.py kills notifications in the middle of a stage.)"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.faults.streams import (
    SUBMISSION_REQUESTS,
    SUBMISSIONS,
    BackgroundStream,
    Item,
    assert_reported_once,
    assert_scored_once,
    body_for,
    ensure_running,
    latest_by_unit,
    new_key,
    post_until_accepted,
    requested_event,
    restart,
    stored,
    topic_records,
    units_of,
)
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2060
NOW = f"{PERIOD}-11-20T09:00:00+07:00"
# After how many items of the stream each service is killed, in this order.
KILLS = ((3, "submissions"), (8, "scoring"), (13, "reporting"), (18, "notifications"))


def stream_items(example: dict[str, Any], units: list[str]) -> list[Item]:
    """16 units over HTTP (4 of them amend later), 8 over Kafka, interleaved: 28 items."""
    http_units, kafka_units = units[0:48:3], units[1:48:6]
    first = [Item(u, body_for(example, u, PERIOD, 7, f"r1 {u}"), new_key("crash"))
             for u in http_units]
    amendments = [Item(u, body_for(example, u, PERIOD, 9, f"r2 {u}"), new_key("crash"))
                  for u in http_units[:4]]
    kafka = [Item(u, body_for(example, u, PERIOD, 8, f"kafka {u}"), new_key("crash-event"),
                  way="kafka") for u in kafka_units]
    http = first[:8] + amendments[:2] + first[8:] + amendments[2:]
    items: list[Item] = []
    while http or kafka:
        items += http[:3]
        del http[:3]
        items += kafka[:1]
        del kafka[:1]
    return items


def in_flight(gate: threading.Lock, timeout: float = 60.0) -> None:
    """Return as soon as the stream holds the gate, i.e. has a request under way."""
    deadline = time.monotonic() + timeout
    while not gate.locked():
        assert time.monotonic() < deadline, "no request was under way"
        time.sleep(0.002)


def test_every_service_killed_mid_stream_loses_and_doubles_nothing(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack = clock
    stack.set_clock(NOW)
    items = stream_items(example_request, units_of(stack, PERIOD))
    gate = threading.Lock()  # held by each HTTP attempt; a restart holds it too
    # The stream waits at each consumer's kill point until the kill is done, so the kill
    # has records on both sides; it flows on while the consumer restarts.
    killed = {after: threading.Event() for after, name in KILLS if name != "submissions"}
    producer = stack.producer()

    def send(item: Item) -> None:
        if item.way == "http":
            post_until_accepted(stack, item, timeout=240, gate=gate)
        else:
            value = requested_event(item)
            producer.send(SUBMISSION_REQUESTS, key=item.unit.encode(), value=value,
                          headers=stack.proof(item.unit, value)).get(timeout=30)

    stream = BackgroundStream(items, send, killed, 240).start()
    done, failure = stream.done, stream.failure
    try:
        for after, name in KILLS:
            wait_for(f"{after} items of the stream", lambda n=after: len(done) >= n or failure,
                     timeout=240)
            assert not failure, failure
            if name == "submissions":
                # In the middle of a request; the next attempt waits for the restart (and
                # for the clock: a fresh process starts on the real date).
                in_flight(gate)
                stack.proc(name).kill9()
                with gate:
                    restart(stack, name, kill=False)
                    stack.set_clock(NOW, services=(name,))
            else:
                stack.proc(name).kill9()
                killed[after].set()
                restart(stack, name, kill=False)
                stack.set_clock(NOW, services=(name,))
        stream.join(300)
        assert not stream.is_alive(), "the stream did not finish"
        assert not failure, failure
    finally:
        producer.close()
        ensure_running(stack, NOW)

    # Crashes did happen under requests: some attempts failed and were retried.
    assert any(len(i.attempts) > 1 for i in items if i.way == "http"), "no request was hit"
    for item in items:
        if item.way == "kafka":
            docs = wait_for(f"the Kafka-way submission of {item.unit}", lambda i=item: [
                d for d in stored(stack, i.unit, PERIOD) if d["status"] == "accepted"],
                timeout=180)
            item.receipt = docs[0]

    latest = latest_by_unit(items)
    accepted = {i.receipt["submission_id"] for i in items if i.receipt}
    for unit in latest:
        docs = stored(stack, unit, PERIOD)
        want = [i.receipt["submission_id"] for i in items if i.unit == unit and i.receipt]
        # One revision per accepted request: a retry after a crash made no second one.
        assert [d["submission_id"] for d in docs] == want, unit
        assert [d["revision"] for d in docs] == list(range(1, len(want) + 1))
        assert {d["status"] for d in docs} == {"accepted"}
    published = {e["id"] for e in topic_records(
        stack.cfg.kafka_bootstrap, SUBMISSIONS,
        lambda e: e.get("data", {}).get("period") == PERIOD)}
    assert published == accepted  # each on the topic; nothing else for the period

    assert_scored_once(stack, PERIOD, latest)
    assert_reported_once(stack, PERIOD, latest, expected=100)
