"""The dead-letter CLI (`python -m services.common.deadletters`) on the real stack: a
signed Kafka-way request dead-lettered by a failure of the intake is listed, shown, left
alone by a dry-run replay, and once the failure is gone a replay sends it to its source
topic with its key and headers (the unit's proof too), where the intake stores it.
Period 2090 (tests/integration/test_pagination.py's units are others)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from services.common.deadletters import REPLAYED_FROM
from services.common.topics import SUBMISSION_REQUESTS, SUBMISSION_REQUESTS_DLQ
from tests.conftest import request_for
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2090
UNIT = "province:cao-bang"
NOW = f"{PERIOD}-11-20T09:00:00+07:00"


def run(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as an operator runs it: the admin principal's credentials in the
    environment."""
    secrets = json.loads((stack.cfg.state / "kafka-secrets.json").read_text())
    env = {**os.environ, "EMULATION_KAFKA_BOOTSTRAP": stack.cfg.kafka_bootstrap,
           "EMULATION_KAFKA_USERNAME": "admin", "EMULATION_KAFKA_PASSWORD": secrets["admin"]}
    return subprocess.run([sys.executable, "-m", "services.common.deadletters", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    done = run(stack, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def listed(stack: Stack, event_id: str) -> list[dict[str, Any]]:
    # With the admin.properties devstack writes for Kafka's tools, no variables.
    done = subprocess.run(
        [sys.executable, "-m", "services.common.deadletters", "--command-config",
         str(stack.cfg.kafka_client_properties), "list", "--json",
         "--topic", SUBMISSION_REQUESTS_DLQ, "--source", SUBMISSION_REQUESTS],
        env={k: v for k, v in os.environ.items() if not k.startswith("EMULATION_KAFKA")},
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return [r for r in rows if r["key"] == UNIT and r["reason"] == "handler-error"
            and event_id in json.dumps(show(stack, r["ref"])["original"])]


def show(stack: Stack, ref: str) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(cli(stack, "show", ref).stdout)
    return shown


def stored(stack: Stack) -> list[dict[str, Any]]:
    with stack.client("submissions", stack.token(UNIT)) as c:
        r = c.get(f"/v1/units/{UNIT}/submissions", params={"period": PERIOD})
    assert r.status_code == 200, r.text
    return list(r.json())


def test_a_dead_letter_is_listed_shown_and_replayed_after_the_fix(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack = clock
    stack.set_clock(NOW)  # the period is open
    event_id = f"test-replay-{uuid.uuid4()}"
    body = request_for(example_request, UNIT, PERIOD)
    envelope = {"specversion": "1.0", "id": event_id, "source": "urn:test:producer",
                "type": "vn.emulation.submission.requested", "subject": UNIT,
                "time": "2026-11-20T02:00:00+00:00",
                "dataschema": "urn:emulation:schema:submission-requested:v1",
                "datacontenttype": "application/json", "data": body}
    value = json.dumps(envelope).encode()
    proof = stack.proof(UNIT, value)
    # The failure: the intake's handler fails on every try (3), so the record is
    # dead-lettered with reason handler-error.
    with stack.as_operator("submissions") as c:
        r = c.post("/v1/admin/faults/arm",
                   params={"step": "before-handler", "kind": "permanent", "times": 3})
        assert r.status_code == 200, r.text
    producer = stack.producer()
    try:
        producer.send(SUBMISSION_REQUESTS, key=UNIT.encode(), value=value,
                      headers=[*proof, ("traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16
                                        + b"-01")]).get(timeout=30)
    finally:
        producer.close()
    rows = wait_for("the dead letter in the listing", lambda: listed(stack, event_id),
                    timeout=60)
    assert len(rows) == 1
    row = rows[0]
    assert row["topic"] == SUBMISSION_REQUESTS_DLQ and row["source_topic"] == SUBMISSION_REQUESTS
    assert row["time"] and row["consumer"] == "submissions-intake"
    assert stored(stack) == []

    shown = show(stack, row["ref"])
    original = shown["original"]
    assert original["topic"] == SUBMISSION_REQUESTS and original["key"] == UNIT
    assert original["value"] == envelope
    for name, raw in proof:
        assert original["headers"][name] == raw.decode()
    assert "injected permanent fault" in shown["detail"]

    dry = json.loads(cli(stack, "replay", row["ref"], "--dry-run").stdout)
    assert dry["dry_run"] is True
    assert dry["would_send"]["headers"][REPLAYED_FROM] == row["ref"]
    sent = stack.read_topic(SUBMISSION_REQUESTS, lambda e: e.get("id") == event_id,
                            timeout=3, count=2)
    assert len(sent) == 1 and stored(stack) == []  # the original only
    assert len(listed(stack, event_id)) == 1

    # The fix: the failure is gone (here: no longer armed; in life, a corrected service).
    with stack.as_operator("submissions") as c:
        assert c.get("/v1/admin/faults").json().get("before-handler", 0) >= 3
    done = json.loads(cli(stack, "replay", row["ref"]).stdout)
    assert done["replayed"] == row["ref"] and done["to"].startswith(SUBMISSION_REQUESTS + ":")
    subs = wait_for("the replayed request to be stored", lambda: stored(stack), timeout=60)
    assert len(subs) == 1 and subs[0]["content"] == body
    replayed = stack.read_topic(SUBMISSION_REQUESTS, lambda e: e.get("id") == event_id,
                                count=2)
    assert len(replayed) == 2  # the original and the replay, same value
    again = [e for e in replayed if REPLAYED_FROM in e["_headers"]]
    assert len(again) == 1
    headers = again[0]["_headers"]
    assert headers[REPLAYED_FROM] == row["ref"].encode()
    for name, raw in proof:
        assert headers[name] == raw
    assert headers["traceparent"].startswith(b"00-" + b"a" * 32)


def test_a_reference_that_is_no_dead_letter_is_refused(stack: Stack) -> None:
    for args, code in ((["show", f"{SUBMISSION_REQUESTS}:0:0"], 2),
                       (["show", f"{SUBMISSION_REQUESTS_DLQ}:0:999999999"], 1),
                       (["replay", "no-colons"], 2)):
        done = run(stack, *args)
        assert done.returncode == code, (args, done.stdout, done.stderr)
