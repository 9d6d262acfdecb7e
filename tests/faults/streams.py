"""What the fault tests share: a client that retries a submission the way a unit's system
should (same Idempotency-Key, until it gets a receipt), Kafka-way requests, restarts that
wait for the port, and the checks of "scored once, reported once" on every service."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from kafka import KafkaConsumer, TopicPartition

from devstack.procs import port_open
from services.common import movements
from services.common.envelope import Event, new_event
from services.submissions import domain
from tests.conftest import request_for
from tests.stackfixture import Stack, admin_kafka, wait_for

SUBMISSION_REQUESTS = "emulation.submission-requests.v1"
SUBMISSIONS = "emulation.submissions.v1"
SCORES = "emulation.scores.v1"
# Answers after which a unit's system tries again with the same key.
RETRYABLE = {429, 502, 503, 504}


@dataclass
class Item:
    """One submission of the stream: which unit, the body, the key, and the outcome."""

    unit: str
    body: dict[str, Any]
    key: str
    way: str = "http"  # or "kafka" (the key is then the event id)
    receipt: dict[str, Any] | None = None
    attempts: list[str] = field(default_factory=list)


class BackgroundStream:
    """A fault test's traffic: sends `items` one after another from a thread, waiting
    before item n until `pause_at[n]` is set (at most `wait_seconds`), so the fault
    falls in the middle. `done` lists what was accepted, `failure` what stopped it."""

    def __init__(self, items: list[Item], send: Callable[[Item], Any],
                 pause_at: dict[int, threading.Event], wait_seconds: float) -> None:
        self.items, self.send, self.pause_at = items, send, pause_at
        self.wait_seconds = wait_seconds
        self.done: list[Item] = []
        self.failure: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            for n, item in enumerate(self.items):
                if n in self.pause_at:
                    self.pause_at[n].wait(self.wait_seconds)
                self.send(item)
                self.done.append(item)
        except BaseException as exc:
            self.failure.append(exc)

    def start(self) -> BackgroundStream:
        self.thread.start()
        return self

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def is_alive(self) -> bool:
        return self.thread.is_alive()


def units_of(stack: Stack, period: int) -> list[str]:
    with stack.as_operator("submissions") as c:
        r = c.get("/v1/units", params={"period": period})
    assert r.status_code == 200, r.text
    return sorted(u["unit_id"] for u in r.json())


def body_for(example: dict[str, Any], unit: str, period: int, rating: int, note: str
             ) -> dict[str, Any]:
    body = request_for(example, unit, period)
    body["self_assessment"] = {c: {"rating": rating} for c in body["self_assessment"]}
    body["notes"] = note
    return body


def post_until_accepted(stack: Stack, item: Item, timeout: float = 120.0,
                        base_url: str | None = None,
                        gate: AbstractContextManager[Any] | None = None) -> dict[str, Any]:
    """POST with the item's key until a 202; connection errors (the service is down),
    429 and 503 are retried, anything else fails the test. Each attempt holds `gate`, so a
    test can crash the service during an attempt and keep the next one waiting."""
    deadline = time.monotonic() + timeout
    url = base_url or stack.cfg.service_url("submissions")
    headers = {"Authorization": f"Bearer {stack.token(item.unit)}",
               "Idempotency-Key": item.key}
    while True:
        try:
            with gate or nullcontext(), httpx.Client(base_url=url, timeout=30) as c:
                r = c.post("/v1/submissions", json=item.body, headers=headers)
            item.attempts.append(str(r.status_code))
            if r.status_code == 202:
                item.receipt = r.json()
                return item.receipt
            assert r.status_code in RETRYABLE, (r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        except httpx.TransportError as exc:
            item.attempts.append(type(exc).__name__)
        assert time.monotonic() < deadline, f"no receipt for {item.unit}: {item.attempts}"
        time.sleep(0.3)


def requested_event(item: Item) -> bytes:
    """A vn.emulation.submission.requested record; its id is the idempotency key."""
    return json.dumps({
        "specversion": "1.0", "id": item.key, "source": "urn:emulation:producer:faults",
        "type": "vn.emulation.submission.requested", "subject": item.unit,
        "time": "2026-11-20T02:00:00+00:00",
        "dataschema": "urn:emulation:schema:submission-requested:v1",
        "datacontenttype": "application/json", "data": item.body,
    }, ensure_ascii=False).encode()


def new_key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def restart(stack: Stack, name: str, kill: bool = True) -> None:
    """kill -9 (or stop) a service of the stack and start it again once its port is free."""
    proc = stack.proc(name)
    if kill:
        proc.kill9()
    else:
        proc.stop()
    wait_for(f"the port of {name} to close",
             lambda: not port_open(stack.cfg.service_ports[name]), timeout=30)
    stack.start(name)


def ensure_running(stack: Stack, now: str) -> None:
    """After a failed crash test: every service up again, on the test's clock."""
    from devstack.config import SERVICES

    for name in SERVICES:
        if stack.proc(name).pid() is None:
            restart(stack, name, kill=False)
            stack.set_clock(now, services=(name,))


def stored(stack: Stack, unit: str, period: int) -> list[dict[str, Any]]:
    with stack.as_operator("submissions") as c:
        r = c.get(f"/v1/units/{unit}/submissions", params={"period": period})
    assert r.status_code == 200, r.text
    docs: list[dict[str, Any]] = r.json()
    return docs


def topic_records(bootstrap: str, topic: str, match: Callable[[dict[str, Any]], bool],
                  timeout: float = 60.0) -> list[dict[str, Any]]:
    """Every record of `topic` up to its end as of now, in partition order, whose JSON value
    matches (with `_partition` and `_offset`)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=1000,
                             **admin_kafka())
    try:
        parts = [TopicPartition(topic, p)
                 for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(parts)
        ends = consumer.end_offsets(parts)
        consumer.seek_to_beginning(*parts)
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for record in consumer:
                try:
                    value = json.loads(record.value)
                except (ValueError, RecursionError):  # the poison test's own records
                    continue
                if isinstance(value, dict) and match(value):
                    value["_partition"], value["_offset"] = record.partition, record.offset
                    found.append(value)
                if all(consumer.position(tp) >= ends[tp] for tp in parts):
                    break
        return found
    finally:
        consumer.close()


def latest_by_unit(items: Iterable[Item]) -> dict[str, dict[str, Any]]:
    """The receipt of each unit's highest revision among what was accepted."""
    latest: dict[str, dict[str, Any]] = {}
    for item in items:
        assert item.receipt is not None, f"{item.unit} was never accepted: {item.attempts}"
        r = item.receipt
        if item.unit not in latest or r["revision"] > latest[item.unit]["revision"]:
            latest[item.unit] = r
    return latest


def assert_scored_once(stack: Stack, period: int, latest: dict[str, dict[str, Any]],
                       timeout: float = 180.0) -> None:
    """Scoring's score in force of each unit is its latest revision, and each revision was
    scored into one event id (a replay republishes the same event, never a second score)."""
    with stack.as_operator("scoring") as c:
        for unit, receipt in latest.items():
            def current(u: str = unit, want: int = receipt["revision"]) -> Any:
                r = c.get(f"/v1/scores/{u}", params={"period": period})
                return r.status_code == 200 and r.json()["revision"] == want and r.json()
            score = wait_for(f"the score of {unit} r{receipt['revision']}", current,
                             timeout=timeout)
            assert score["submission_id"] == receipt["submission_id"]
    events = topic_records(stack.cfg.kafka_bootstrap, SCORES, lambda e: e.get("type") ==
                           "vn.emulation.score.computed" and e["data"].get("period") == period
                           and e.get("source") == "urn:emulation:service:scoring")
    ids: dict[tuple[str, int], set[str]] = defaultdict(set)
    last: dict[str, dict[str, Any]] = {}
    for e in events:  # key = unit: one partition per unit, so this is the unit's order
        ids[(e["data"]["unit_id"], e["data"]["revision"])].add(e["id"])
        last[e["data"]["unit_id"]] = e["data"]
    assert set(last) == set(latest), "scores of units that were never accepted"
    assert {k: len(v) for k, v in ids.items() if len(v) != 1} == {}
    for unit, receipt in latest.items():
        assert last[unit]["submission_id"] == receipt["submission_id"], unit


def both_movements(get: Any) -> dict[str, Any]:
    """A report of every unit: the two movements' (`get(movement)`) added up."""
    parts = [get(m) for m in ("toan-dan", "vi-an-ninh")]
    if not all("expected" in p for p in parts):
        return {}
    out: dict[str, Any] = {k: sum(p[k] for p in parts)
                           for k in ("expected", "submitted", "on_time", "late")}
    for key in ("missing", "units"):
        out[key] = [x for p in parts for x in p.get(key, [])]
    out["by_type"] = {t: c for p in parts for t, c in p.get("by_type", {}).items()}
    return out


def assert_reported_once(stack: Stack, period: int, latest: dict[str, dict[str, Any]],
                         expected: int, timeout: float = 180.0) -> dict[str, Any]:
    """Reporting counts each accepted unit once, at its latest revision; notifications
    tracks the same units as reported."""
    want = set(latest)

    def report() -> Any:
        with stack.as_operator("reporting") as c:
            rep = both_movements(lambda m: c.get("/v1/reports/national", params={
                "period": period, "movement": m}).json())
        rows = {u["unit_id"]: u for u in rep.get("units", [])}
        done = (rep.get("expected") == expected and rep["submitted"] == len(want)
                and all(rows[u]["revision"] == latest[u]["revision"] for u in want))
        return rep if done else None

    rep = wait_for(f"reporting to count {len(want)} units", report, timeout=timeout)
    assert set(rep["missing"]) == {u["unit_id"] for u in rep["units"]} - want
    assert sum(t["submitted"] for t in rep["by_type"].values()) == len(want)

    def deadlines() -> Any:
        with stack.as_operator("notifications") as c:
            d = both_movements(lambda m: c.get(f"/v1/deadlines/{period}",
                                               params={"movement": m}).json())
        return d if d.get("expected") == expected and d["submitted"] == len(want) else None

    status = wait_for("notifications to count the same units", deadlines, timeout=timeout)
    assert not want & set(status["missing"])
    result: dict[str, Any] = rep
    return result


def accepted_event(unit: str, period: int, body: dict[str, Any], revision: int = 1) -> Event:
    """A vn.emulation.submission.accepted event as the submissions service publishes it
    (its outbox relay included), for a unit whose submission was stored earlier."""
    received = datetime(period, 11, 20, 2, 0, tzinfo=UTC)
    receipt = domain.Receipt(
        submission_id=domain.submission_id(unit, period, revision), unit_id=unit,
        period=period, revision=revision, on_time=True, received_at=received,
        deadline=domain.deadline_for(period), movement=movements.movement_of(unit))
    return new_event(type="vn.emulation.submission.accepted",
                     source="urn:emulation:service:submissions", subject=unit,
                     schema="submission-accepted", version=2, id=receipt.submission_id,
                     data={**receipt.to_dict(), "unit_type": unit.split(":")[0],
                           "content": body, "changed_paths": []})


def metric(url: str, name: str, **labels: str) -> float:
    """The value of one sample of a service's /metrics (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    with httpx.Client(base_url=url, timeout=30) as c:
        text = c.get("/metrics").text
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample.split("{")[0] != name:
            continue
        found = sample.partition("{")[2].rstrip("}")
        if ",".join(sorted(found.split(","))) == want:
            return float(value)
    return 0.0


def committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """The committed offsets of a consumer group, by (topic, partition)."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="faults",
                             **admin_kafka())
    try:
        offsets = admin.list_group_offsets(group)[group]
        return {(tp.topic, tp.partition): om.offset for tp, om in offsets.items()}
    finally:
        admin.close()
