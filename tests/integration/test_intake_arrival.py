"""The Kafka way in judges a request by when the broker appended it, not by when the
intake consumed it: a backlog on the deadline day turns nothing late."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from kafka.admin import ConfigResource, KafkaAdminClient

from services.common.topics import SUBMISSION_REQUESTS, SUBMISSION_REQUESTS_DLQ
from services.submissions import domain
from tests.conftest import request_for
from tests.stackfixture import Stack, wait_for

UNIT, PERIOD = "ministry:justice", 2025
DEADLINE = domain.deadline_for(PERIOD)
# Seconds of the submissions clock before the deadline when the requests are appended.
LEAD = 4.0


def envelope(body: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"t-{uuid.uuid4()}", "source": "urn:test",
            "type": "vn.emulation.submission.requested", "subject": body["unit_id"],
            # The producer's own claim: earlier than anything, and ignored.
            "time": "2025-01-01T00:00:00+00:00", "data": body,
            "dataschema": "urn:emulation:schema:submission-requested:v1"}


def produce(stack: Stack, *events: dict[str, Any]) -> list[float]:
    """Append the events; the broker's append times (seconds since the epoch)."""
    producer = stack.producer()
    try:
        values = [(e["subject"], json.dumps(e).encode()) for e in events]
        futures = [producer.send(SUBMISSION_REQUESTS, key=unit.encode(), value=value,
                                 headers=stack.proof(unit, value)) for unit, value in values]
        producer.flush()
        return [f.get(timeout=10).timestamp / 1000 for f in futures]
    finally:
        producer.close()


def test_the_request_topic_is_stamped_by_the_broker(stack: Stack) -> None:
    admin = KafkaAdminClient(**stack.cfg.kafka_client())
    try:
        described = admin.describe_configs(
            [ConfigResource("TOPIC", SUBMISSION_REQUESTS, ["message.timestamp.type"])])
    finally:
        admin.close()
    setting = described["topic"][SUBMISSION_REQUESTS]["message.timestamp.type"]
    assert setting["value"] == "LogAppendTime"


def test_a_request_appended_before_the_deadline_and_consumed_after_is_on_time(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack = clock
    first = envelope(request_for(example_request, UNIT, PERIOD))
    amended = envelope(dict(request_for(example_request, UNIT, PERIOD), notes="amended"))
    stack.set_clock((DEADLINE - timedelta(seconds=LEAD)).isoformat(), ("submissions",))
    set_at = time.time()
    pid = stack.proc("submissions").pid()
    assert pid is not None
    # The intake stands still (a stalled consumer), well within its Kafka session.
    os.kill(pid, signal.SIGSTOP)
    try:
        appended = produce(stack, first, amended)
        assert all(t - set_at < LEAD - 0.5 for t in appended), "appended too slowly"
        # Consumed only once the submissions clock is past the deadline.
        time.sleep(max(0.0, set_at + LEAD + 1.0 - time.time()))
    finally:
        os.kill(pid, signal.SIGCONT)
    with stack.as_operator("submissions") as c:
        got = wait_for("both requests stored", lambda: (lambda docs: docs if len(docs) == 2
                       else None)(c.get(f"/v1/units/{UNIT}/submissions",
                                        params={"period": PERIOD}).json()))
        now = datetime.fromisoformat(c.get("/v1/admin/clock").json()["now"])
    assert now > DEADLINE  # consumed after the deadline
    by_revision = {d["revision"]: d for d in got}
    assert by_revision[1]["on_time"] and by_revision[2]["on_time"]
    # Received when appended, by the submissions clock of that moment.
    for revision, when in ((1, appended[0]), (2, appended[1])):
        received = datetime.fromisoformat(by_revision[revision]["received_at"])
        assert received <= DEADLINE
        expected = DEADLINE - timedelta(seconds=LEAD) + timedelta(seconds=when - set_at)
        assert abs(received - expected) < timedelta(seconds=1)
    # The amendment appended before the deadline needed no unlock.
    assert by_revision[2]["supersedes"] == by_revision[1]["submission_id"]
    assert by_revision[2]["content"]["notes"] == "amended"

    # Appended after the deadline, the same amendment is refused.
    late = envelope(dict(request_for(example_request, UNIT, PERIOD), notes="too late"))
    produce(stack, late)
    letters = stack.read_topic(SUBMISSION_REQUESTS_DLQ,
                               lambda e: late["id"] in e.get("data", {}).get("value", ""))
    assert letters[0]["data"]["reason"] == "deadline-passed"
