"""The test stack: real Kafka, real FerretDB and the four services, on ports of their
own (so a developer's `make up` stack is left alone), started once per test run."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from devstack.config import ROOT, ports_from_base


def stack_env(base: int) -> dict[str, str]:
    """Ports of a test stack, all derived from one base (default 19000), so several test
    runs on one machine (or a developer's `make up`) never collide."""
    return {
        **ports_from_base(base, f".local/test-{base}"),
        # No default reminder campaign: a test that moves the clock into a season would
        # otherwise remind all 100 units in the background (tests create their own).
        "EMULATION_AUTO_CAMPAIGN": "false",
        # Unknown reminder outcomes are resolved 2 s after they arise (60 s by default),
        # so the fault tests see them resolved within a few passes.
        "EMULATION_UNKNOWN_GRACE_SECONDS": "2",
        # Every service writes its spans to a file of its own, for the tracing test.
        "OTEL_TRACES_EXPORTER": "file",
        "OTEL_TRACES_FILE": f".local/test-{base}/traces/{{service}}.jsonl",
        # Test-only routes that stall a consumer or fail a record at a chosen step.
        "EMULATION_FAULT_INJECTION": "true",
    }


TEST_ENV = stack_env(int(os.environ.get("TEST_PORT_BASE", "19000")))


def admin_kafka() -> dict[str, Any]:
    """kafka-python keyword arguments of the test stack's `admin` principal (a super user),
    for the tests' own clients, also on the three-broker cluster (same passwords)."""
    from devstack.kafka_security import client_auth

    secrets = ROOT / TEST_ENV["STACK_DIR"] / "kafka-secrets.json"
    return dict(client_auth(secrets).kafka_python())

# Tests run on a known date before the 2026 deadline, whatever the real date is.
TEST_NOW = "2026-11-20T09:00:00+07:00"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except (httpx.HTTPError, KeyError, AssertionError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@dataclass
class Stack:
    cfg: Any
    credentials: dict[str, Any]

    @property
    def operator(self) -> str:
        """The bootstrap admin's token (`make up`); tests issue their own accounts too."""
        return str(self.credentials["admin"])

    def token(self, unit_id: str) -> str:
        return str(self.credentials["units"][unit_id])

    def client(self, service: str, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if token is not None and token == self.operator:
            # Every admin action needs a reason for the audit trail.
            headers["Audit-Reason"] = "integration test"
        return httpx.Client(base_url=self.cfg.service_url(service), headers=headers,
                            timeout=30)

    def as_operator(self, service: str) -> httpx.Client:
        return self.client(service, self.operator)

    def set_clock(self, iso: str, services: tuple[str, ...] | None = None) -> None:
        from devstack.config import SERVICES

        for name in services or SERVICES:
            with self.as_operator(name) as c:
                r = c.put("/v1/admin/clock", json={"now": iso})
                assert r.status_code == 200, r.text

    def proc(self, name: str) -> Any:
        from devstack import parts

        return parts.proc(self.cfg, name)

    def start(self, name: str) -> None:
        from devstack import parts

        parts.start_service(self.cfg, name)

    @property
    def sinks_dir(self) -> Any:
        """Where devstack/sinks.py writes what it received (and reads fail-* files)."""
        from devstack import parts

        return parts.sinks_dir(self.cfg)

    def sink_records(self, kind: str) -> list[dict[str, Any]]:
        """What the local SMTP, SMPP or HTTP SMS sink received: kind smtp|smpp|http_sms."""
        path = self.sinks_dir / f"{kind}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]

    def proof(self, unit_id: str, value: bytes) -> list[tuple[str, bytes]]:
        """The headers that prove a submission request (`value`) comes from `unit_id`:
        HMAC-SHA256 under the unit's key (services/submissions/proof.py)."""
        from services.submissions.proof import signed_headers

        key = json.loads(self.cfg.unit_keys.read_text())[unit_id]
        return signed_headers(key["key_id"], key["key"], value)

    def producer(self) -> KafkaProducer:
        return KafkaProducer(acks="all", **self.cfg.kafka_client())

    def read_topic(self, topic: str, match: Callable[[dict[str, Any]], bool],
                   timeout: float = 30.0, count: int = 1) -> list[dict[str, Any]]:
        """Records of `topic` (from the beginning) whose JSON value matches."""
        consumer = KafkaConsumer(**self.cfg.kafka_client(), group_id=None, enable_auto_commit=False,
                                 consumer_timeout_ms=500)
        try:
            parts = [TopicPartition(topic, p)
                     for p in sorted(consumer.partitions_for_topic(topic) or [])]
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            found: list[dict[str, Any]] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(found) < count:
                for record in consumer:
                    with suppress(ValueError, RecursionError):  # poison test records
                        value = json.loads(record.value)
                        if isinstance(value, dict) and match(value):
                            value["_headers"] = dict(record.headers or [])
                            found.append(value)
            return found
        finally:
            consumer.close()


def start_test_stack() -> Iterator[Stack]:
    os.environ.update(TEST_ENV)
    from devstack import __main__ as cli
    from devstack.config import StackConfig

    cfg = StackConfig.from_env()
    cli.down(cfg)
    shutil.rmtree(cfg.state / "traces", ignore_errors=True)
    (cfg.state / "traces").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(cfg.data, ignore_errors=True)
    shutil.rmtree(cfg.logs, ignore_errors=True)
    # The sinks stand for the providers of this stack: a fresh database gets fresh peers.
    # (The notifications service asks the SMTP sink's log by Message-ID, and Message-IDs
    # are the same for the same reminder: an earlier run's log would answer for it.)
    shutil.rmtree(cfg.state / "sinks", ignore_errors=True)
    try:
        cli.up(cfg)
        stack = Stack(cfg=cfg, credentials=json.loads(cfg.credentials.read_text()))
        stack.set_clock(TEST_NOW)
    except BaseException:
        cli.down(cfg)  # never leave a half-started stack behind
        raise
    try:
        yield stack
    finally:
        if os.environ.get("KEEP_TEST_STACK") != "1":
            cli.down(cfg)


# Units in the registry of every period from 2025 on (17 ministries, 34 provinces,
# 34 police, 6 front, 9 organizations).
UNITS_FROM_2025 = 100


def counted(report: dict[str, Any], unit_id: str) -> bool:
    """The unit is counted as submitted by a report built on the complete registry copy
    (a copy still loading would not list the unit as missing either): of the report's
    movement, if it is of one (34 police units in vi-an-ninh, the others in toan-dan)."""
    expected = {"toan-dan": UNITS_FROM_2025 - 34, "vi-an-ninh": 34}.get(
        str(report.get("movement")), UNITS_FROM_2025)
    return report.get("expected") == expected and unit_id not in report["missing"]


def unique_key() -> str:
    return uuid.uuid4().hex


def finished_job(client: httpx.Client, started: httpx.Response, timeout: float = 300.0
                 ) -> dict[str, Any]:
    """Poll the job a 202 answer started (its Location) until it ends; its resource."""
    assert started.status_code == 202, started.text
    url = started.headers["location"]

    def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(url).json()
        return job if job["state"] != "running" else None

    return wait_for(f"the job {url}", ended, timeout=timeout)
