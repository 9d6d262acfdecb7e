"""Intake: POST /v1/submissions at a fixed concurrency, versus a bare FastAPI endpoint
under the same uvicorn settings; and the end-to-end latency from POST to report."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pymongo

from bench import kafka_io, workload
from bench.load import LoadResult, Request, drive
from bench.probes import CpuMeter, counter
from bench.stack import ROOT, BenchStack
from bench.stats import percentile

BARE_OFFSET = 101  # the bare endpoint listens on base + 101
REQUESTS = "emulation.submission-requests.v1"


@dataclass
class KafkaRun:
    """Submission requests produced onto the Kafka way in, until the service has them all."""

    n: int
    seconds: float  # from the first produce to the last request processed (nan: timeout)
    produced: Any  # kafka_io.Produced
    processed: float
    dead_lettered: float

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class IntakeRun:
    load: LoadResult
    cpu_per_request: float  # seconds of the server process per successful request
    rows_before: int  # submissions stored when the run began (FerretDB scans them)
    cpu_share: dict[str, float] = field(default_factory=dict)  # process -> share of a core


class Intake:
    """Drives the intake; every run starts from an empty submissions table, so runs are
    comparable (on FerretDB a POST's cost grows with the table: see docs/benchmarks.md)."""

    def __init__(self, stack: BenchStack, concurrency: int = 16) -> None:
        self.stack, self.concurrency = stack, concurrency
        self.run_id = uuid.uuid4().hex[:8]
        self.counter = 0
        self.units = workload.units(workload.INTAKE_PERIOD)
        self.mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(stack.mongo_url)

    def requests(self, n: int, period: int = workload.INTAKE_PERIOD) -> list[Request]:
        """n new revisions, round-robin over every unit (so no two requests in flight
        compete for one unit's next revision), each with its own Idempotency-Key."""
        out = []
        for _ in range(n):
            self.counter += 1
            unit = self.units[self.counter % len(self.units)]
            body = json.dumps(workload.request_body(unit, period, self.counter)).encode()
            out.append(Request("/v1/submissions", body, {
                "Authorization": f"Bearer {self.stack.token(unit)}",
                "Idempotency-Key": f"bench-{self.run_id}-{self.counter}",
                "Content-Type": "application/json"}))
        return out

    def kafka_records(self, n: int) -> list[tuple[bytes, bytes]]:
        """n `vn.emulation.submission.requested` envelopes, round-robin over the units
        (keyed by unit: one unit's revisions in order), each with its own id (the key)."""
        now = datetime.now(UTC).isoformat()
        out = []
        for _ in range(n):
            self.counter += 1
            unit = self.units[self.counter % len(self.units)]
            out.append((unit.encode(), workload.encoded({
                "specversion": "1.0", "id": f"bench-k-{self.run_id}-{self.counter}",
                "source": "urn:emulation:producer:bench",
                "type": "vn.emulation.submission.requested", "subject": unit, "time": now,
                "dataschema": "urn:emulation:schema:submission-requested:v1",
                "datacontenttype": "application/json",
                "data": workload.request_body(unit, workload.INTAKE_PERIOD, self.counter)})))
        return out

    def kafka_way(self, n: int, timeout: float = 120.0) -> KafkaRun:
        """Produce n requests onto the Kafka way in; time until the submissions service
        has processed (stored and published) or dead-lettered them all."""
        url = self.stack.url("submissions")

        def done() -> tuple[float, float]:
            return (counter(url, "events_consumed_total", topic=REQUESTS, outcome="processed"),
                    counter(url, "events_consumed_total", topic=REQUESTS,
                            outcome="dead-lettered"))

        base = done()
        records = self.kafka_records(n)
        # Each request signed with its unit's key, as a ministry system does (ADR 0008).
        from services.submissions.proof import signed_headers

        keys = json.loads(self.stack.cfg.unit_keys.read_text())
        proofs = [signed_headers(keys[k.decode()]["key_id"], keys[k.decode()]["key"], v)
                  for k, v in records]
        produced = asyncio.run(kafka_io.produce(self.stack.bootstrap, REQUESTS, records,
                                                proofs))
        seconds, now = float("nan"), base
        while time.perf_counter() < produced.started + timeout:
            now = done()
            if sum(now) - sum(base) >= n:
                seconds = time.perf_counter() - produced.started
                break
            time.sleep(0.05)
        return KafkaRun(n=n, seconds=seconds, produced=produced,
                        processed=now[0] - base[0], dead_lettered=now[1] - base[1])

    def reset_table(self) -> int:
        """Forget the intake period: its submissions, their heads (the latest revision of
        each unit), key pointers and outbox entries, so each run starts afresh."""
        db = self.mongo["emulation_submissions"]
        coll = db["submissions"]
        before = coll.estimated_document_count()
        ids = [d["_id"] for d in coll.find({"period": workload.INTAKE_PERIOD}, {"_id": 1})]
        coll.delete_many({"period": workload.INTAKE_PERIOD})
        db["submission_heads"].delete_many({"period": workload.INTAKE_PERIOD})
        db["submission_keys"].delete_many({"submission_id": {"$in": ids}})
        db["outbox"].delete_many({"_id": {"$in": ids}})
        return int(before)

    def service(self, n: int, time_limit: float | None = None) -> IntakeRun:
        rows = self.reset_table()
        meter = CpuMeter({"server": self.stack.pid("submissions"), "client": os.getpid(),
                          "ferretdb": self.stack.pid("ferretdb"),
                          "kafka": self.stack.pid("kafka")})
        meter.start()
        result = asyncio.run(drive(self.stack.url("submissions"), self.requests(n),
                                   self.concurrency, time_limit))
        used = meter.stop().get("server", 0.0)
        return IntakeRun(result, used / max(result.ok, 1), rows, meter.share())

    def bare(self, n: int, pid: int, time_limit: float | None = None) -> IntakeRun:
        meter = CpuMeter({"server": pid, "client": os.getpid()})
        meter.start()
        result = asyncio.run(drive(self.bare_url, self.requests(n), self.concurrency,
                                   time_limit))
        used = meter.stop().get("server", 0.0)
        return IntakeRun(result, used / max(result.ok, 1), 0, meter.share())

    @property
    def bare_url(self) -> str:
        return f"http://127.0.0.1:{self.stack.port(BARE_OFFSET)}"

    def start_bare(self) -> int:
        from devstack.procs import Proc, wait_until

        proc = Proc("bench-bare", self.stack.cfg.run, self.stack.cfg.logs)
        proc.stop()
        proc.start([sys.executable, "-m", "bench.bare_app", "--port",
                    str(self.stack.port(BARE_OFFSET))], env=_env(), cwd=ROOT)

        def up() -> bool:
            return httpx.get(self.bare_url + "/healthz", timeout=2).status_code == 200

        wait_until("the bare endpoint", up, 30, proc)
        pid = proc.pid()
        assert pid is not None
        return pid

    def stop_bare(self) -> None:
        from devstack.procs import Proc

        Proc("bench-bare", self.stack.cfg.run, self.stack.cfg.logs).stop()

    def close(self) -> None:
        self.mongo.close()


def _env() -> dict[str, str]:
    return dict(os.environ)


# -- end to end ------------------------------------------------------------------------

@dataclass
class EndToEnd:
    latencies: list[float]  # POST sent -> the unit counted in reporting's read model
    post_latencies: list[float]
    counted_in_report: int

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)


def end_to_end(stack: BenchStack, samples: int, timeout: float = 60.0) -> EndToEnd:
    """One unit at a time: POST its (late) first report for the e2e period, then poll
    reporting's read model (its document `unit|period`, read by `_id`) until it is there."""
    period = workload.E2E_PERIOD
    units = workload.units(period)[:samples]
    mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(stack.mongo_url)
    coll = mongo["emulation_reporting"]["rm_submissions"]
    latencies, posts = [], []
    try:
        with httpx.Client(base_url=stack.url("submissions"), timeout=60) as client:
            for i, unit in enumerate(units):
                body = workload.request_body(unit, period, i)
                started = time.perf_counter()
                r = client.post("/v1/submissions", json=body, headers={
                    "Authorization": f"Bearer {stack.token(unit)}",
                    "Idempotency-Key": f"bench-e2e-{uuid.uuid4().hex}"})
                posted = time.perf_counter()
                if r.status_code != 202:
                    raise RuntimeError(f"e2e POST for {unit}: {r.status_code} {r.text[:300]}")
                deadline = posted + timeout
                while coll.find_one({"_id": f"{unit}|{period}"}, {"_id": 1}) is None:
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"{unit} not in reporting after {timeout:.0f} s")
                    time.sleep(0.02)
                latencies.append(time.perf_counter() - started)
                posts.append(posted - started)
        report = httpx.get(stack.url("reporting") + "/v1/reports/national",
                           params={"period": period, "format": "json"},
                           headers={"Authorization": f"Bearer {stack.operator}"}, timeout=120)
        report.raise_for_status()
        missing = set(report.json().get("missing", []))
        counted = sum(1 for u in units if u not in missing)
    finally:
        mongo.close()
    return EndToEnd(latencies, posts, counted)
