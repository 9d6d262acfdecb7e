"""Pipeline: accepted-submission events produced straight onto emulation.submissions.v1,
timed until each consumer has processed them all (reporting's read model is the figure),
against three anchors reading the very same records: a raw aiokafka consumer, a no-op
faust agent, and a faust agent running the services' RecordLoop with a no-op handler."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

from bench import kafka_io, probes, workload
from bench.probes import CpuMeter
from bench.stack import ROOT, BenchStack

SUBMISSIONS = "emulation.submissions.v1"
CONSUMERS = ("reporting", "scoring", "notifications")
PROCESSES = ("ferretdb", "kafka", *CONSUMERS)


@dataclass
class Batch:
    n: int
    produce_seconds: float
    batch: kafka_io.Produced
    done: dict[str, float] = field(default_factory=dict)  # consumer -> seconds (nan: timed out)
    processed: dict[str, float] = field(default_factory=dict)
    dead_lettered: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # process -> share of one core

    def rate(self, consumer: str) -> float:
        seconds = self.done.get(consumer, math.nan)
        if math.isnan(seconds):
            return math.nan
        return self.n / seconds if seconds > 0 else math.nan


class Pipeline:
    def __init__(self, stack: BenchStack) -> None:
        self.stack = stack
        self.revision = 0
        self.units = workload.units(workload.PIPELINE_PERIODS[0])

    def records(self, n: int) -> list[tuple[bytes, bytes]]:
        """n events over the pipeline periods' units; one revision per batch, so every
        event is news to every consumer (a newer revision of a known unit and period)."""
        self.revision += 1
        out = []
        periods = workload.PIPELINE_PERIODS
        for i in range(n):
            unit = self.units[i % len(self.units)]
            period = periods[(i // len(self.units)) % len(periods)]
            event = workload.accepted_event(unit, period, self.revision, "pipe")
            out.append((unit.encode(), workload.encoded(event)))
        return out

    def _counts(self, topic: str | None = SUBMISSIONS) -> dict[str, float]:
        out = {}
        for name in CONSUMERS:
            labels = {"topic": topic} if topic else {}
            out[name] = probes.counter(self.stack.url(name), "events_consumed_total", **labels)
        return out

    def quiesce(self, timeout: float = 90.0) -> bool:
        """Wait until no consumer processes anything for 2 s (the last batch drained)."""
        deadline = time.monotonic() + timeout
        last = self._counts(None)
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self._counts(None)
            if now != last:
                last, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since >= 2.0:
                return True
        return False

    def batch(self, n: int, timeout: float) -> Batch:
        records = self.records(n)
        base = self._counts()
        dead_base = {c: probes.counter(self.stack.url(c), "events_consumed_total",
                                       topic=SUBMISSIONS, outcome="dead-lettered")
                     for c in CONSUMERS}
        meter = CpuMeter({p: self.stack.pid(p) for p in PROCESSES})
        meter.start()
        produced = asyncio.run(kafka_io.produce(self.stack.bootstrap, SUBMISSIONS, records))
        result = Batch(n=n, produce_seconds=produced.elapsed, batch=produced)
        deadline = produced.started + timeout
        while len(result.done) < len(CONSUMERS) and time.perf_counter() < deadline:
            counts = self._counts()
            now = time.perf_counter()
            for name in CONSUMERS:
                if name not in result.done and counts[name] - base[name] >= n:
                    result.done[name] = now - produced.started
            time.sleep(0.1)
        meter.stop()
        final = self._counts()
        for name in CONSUMERS:
            result.done.setdefault(name, math.nan)
            result.processed[name] = final[name] - base[name]
            result.dead_lettered[name] = probes.counter(
                self.stack.url(name), "events_consumed_total", topic=SUBMISSIONS,
                outcome="dead-lettered") - dead_base[name]
        result.cpu = meter.share()
        return result

    # -- anchors on the same records ----------------------------------------------------

    def raw(self, b: Batch) -> float:
        return asyncio.run(kafka_io.raw_consume(self.stack.bootstrap, b.batch))

    def faust(self, b: Batch, mode: str, tracing: dict[str, str] | None = None) -> float:
        return self.faust_on(b.batch, mode, tracing)

    def faust_on(self, batch: kafka_io.Produced, mode: str,
                 tracing: dict[str, str] | None = None) -> float:
        """Seconds a fresh faust worker (its own group, starting at the batch) needs from
        the batch's first record to its last; run in a process of its own."""
        group = f"bench-noop-{mode}-{uuid.uuid4().hex[:8]}"
        asyncio.run(kafka_io.commit_offsets(self.stack.bootstrap, group,
                                            {batch.topic: batch.start}))
        env = {**os.environ, "APP_DATADIR": str(self.stack.state / "faust-noop"),
               "OTEL_TRACES_EXPORTER": "none", **(tracing or {})}
        argv = [sys.executable, "-m", "bench.noop_faust", "--bootstrap", self.stack.bootstrap,
                "--topic", batch.topic, "--group", group, "--count", str(batch.count),
                "--mode", mode]
        if tracing:
            argv.append("--tracing")
        out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT,
                             timeout=180)
        if out.returncode != 0:
            raise RuntimeError(f"faust no-op ({mode}) failed:\n{out.stderr[-2000:]}")
        return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
