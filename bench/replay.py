"""Replay: a season's accepted events of one period put on emulation.submissions.v1 while
the consumers are stopped (they skip them: their groups start past the batch), then
scoring's rescore of that period and reporting's rebuild of its read models, each
started through its admin API as an operator does (202, then the job resource polled
until it ends), against a raw aiokafka consumer reading the same records."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench import workload
from bench.stack import BenchStack

POLL_SECONDS = 0.5


def records(n: int, period: int = workload.REPLAY_PERIOD) -> list[tuple[bytes, bytes]]:
    """n accepted events of `period`, round-robin over its units, each unit's revisions
    rising (so every event is a newer revision of a known unit: news to every handler)."""
    units = workload.units(period)
    out = []
    for i in range(n):
        unit = units[i % len(units)]
        event = workload.accepted_event(unit, period, i // len(units) + 1, "replay")
        out.append((unit.encode(), workload.encoded(event)))
    return out


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the POST
    stage: str
    done: int
    total: int | None


@dataclass
class JobRun:
    """One operator action run as a job: how long until it ended, and what it said."""

    kind: str
    seconds: float = math.nan  # from the POST to the poll that saw it end (nan: not ended)
    state: str = "running"
    samples: list[Sample] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.state == "succeeded"


def run_job(base_url: str, path: str, token: str, body: dict[str, Any] | None,
            timeout: float, kind: str) -> JobRun:
    """POST `path` (202 and a job), then poll the job resource every POLL_SECONDS until
    it ends or `timeout` s have passed (then the run says `running`, seconds nan)."""
    headers = {"Authorization": f"Bearer {token}", "Audit-Reason": "benchmark: replay"}
    job = JobRun(kind=kind)
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        started = time.perf_counter()
        r = client.post(path, json=body)
        if r.status_code != 202:
            raise RuntimeError(f"{kind}: POST {path} answered {r.status_code} {r.text[:300]}")
        location = r.headers["Location"]
        while time.perf_counter() - started < timeout:
            time.sleep(POLL_SECONDS)
            got = client.get(location)
            got.raise_for_status()
            doc = got.json()
            now = time.perf_counter() - started
            job.samples.append(Sample(now, doc["stage"], doc["done"], doc["total"]))
            if doc["state"] != "running":
                job.state, job.result, job.error = doc["state"], doc["result"], doc["error"]
                if job.finished:
                    job.seconds = now
                break
    return job


def progress(samples: Sequence[Sample], at_most: int = 8) -> list[Sample]:
    """The samples worth printing: those where the stage or count moved, thinned evenly
    to `at_most` (the first and the last kept)."""
    moved = [s for i, s in enumerate(samples)
             if i == 0 or (s.stage, s.done) != (samples[i - 1].stage, samples[i - 1].done)]
    if moved and moved[-1] is not samples[-1]:
        moved.append(samples[-1])
    if len(moved) <= at_most:
        return moved
    step = (len(moved) - 1) / (at_most - 1)
    return [moved[round(i * step)] for i in range(at_most)]


def describe(job: JobRun, timeout: float) -> str:
    """One line for the notes: the outcome, the progress it showed, its result."""
    def one(s: Sample) -> str:
        of = f"/{s.total:,}" if s.total is not None else ""
        return f"{s.at:.1f} s {s.stage} {s.done:,}{of}"

    if job.finished:
        head = f"{job.kind} finished in {job.seconds:.1f} s"
    elif job.state == "running":
        head = f"{job.kind} not finished in {timeout:.0f} s"
    else:
        head = f"{job.kind} {job.state}: {job.error}"
    shown = "; ".join(one(s) for s in progress(job.samples))
    return f"{head}; progress {shown or 'none seen'}; result {job.result}"


def rescore(stack: BenchStack, period: int, version: str, timeout: float) -> JobRun:
    return run_job(stack.url("scoring"), "/v1/admin/rescore", stack.operator,
                   {"period": period, "rubric_version": version}, timeout, "rescore")


def rebuild(stack: BenchStack, timeout: float) -> JobRun:
    return run_job(stack.url("reporting"), "/v1/admin/rebuild", stack.operator, None,
                   timeout, "rebuild")
