"""`make bench`: the platform's benchmarks on loopback, each figure beside an anchor
measured in the same run, medians over repeats; writes docs/benchmarks.md (between its
markers) and .local/bench-<base>/results.json, and prints the table.

    python -m bench [--repeats 3] [--quick] [--only intake,pipeline,...] [--keep-stack]

The stack runs on ports from BENCH_PORT_BASE (default 26000) and is stopped by pid at
the end. Phases: store, broker, intake, observability, e2e, e2e-load, pipeline, replay;
and `profile` (pyinstrument and timed database calls, per hop), only when named.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import kafka_io, probes, workload
from bench.results import Results, machine, table, write_markdown
from bench.stack import DEFAULT_BASE, ROOT, BenchStack, running_stack
from bench.stats import Row, fmt, median

PHASES = ("store", "broker", "intake", "observability", "e2e", "e2e-load", "pipeline",
          "replay", "profile")
# `profile` (where one record's time goes, per hop) is asked for by name: --only profile
DEFAULT_PHASES = PHASES[:-1]
CONSUMERS = ("scoring", "notifications", "reporting")


@dataclass
class Plan:
    repeats: int
    concurrency: int = 16
    intake_seconds: float = 8.0  # length of one intake run (more requests if it is fast)
    observability_seconds: float = 5.0  # length of one intake run per tracing set-up
    pipeline_seconds: float = 12.0  # target length of one pipeline batch
    e2e_samples: int = 12
    store_batch: int = 60
    store_stored: int = 20_000  # a season's documents in the table the writes meet
    perf_records: int = 50_000
    recordloop_batch: int = 400
    load_rate: float = 100.0  # POST /v1/submissions per second, open loop (e2e-load)
    load_seconds: float = 30.0
    load_max: int = 3000
    load_every: int = 10  # every 10th request followed into reporting's read model
    replay_events: int = 20_000  # a season's events of one period (replay)
    replay_timeout: float = 600.0  # per job; then "not finished in N s"
    replay_budget: float = 360.0  # no further repeat once the phase has run this long

    @classmethod
    def quick(cls) -> Plan:
        return cls(repeats=1, intake_seconds=4.0, observability_seconds=3.0,
                   pipeline_seconds=8.0, e2e_samples=5, store_batch=30, perf_records=20_000,
                   recordloop_batch=150, store_stored=5_000, load_seconds=10.0,
                   replay_events=5_000)


def clamp(value: float, low: int, high: int) -> int:
    if math.isnan(value):
        return low
    return max(low, min(high, int(value)))


# -- phases ----------------------------------------------------------------------------

def wait_for_registry(stack: BenchStack, timeout: float = 120.0) -> None:
    """The consumers have their copy of the registry before anything is measured."""
    ends = asyncio.run(kafka_io.end_offsets(stack.bootstrap, "emulation.units.v1"))
    wanted = sum(ends.values())
    deadline = time.monotonic() + timeout
    for name in CONSUMERS:
        while probes.consumed(stack.url(name), "emulation.units.v1") < wanted:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not load the registry in {timeout:.0f} s")
            time.sleep(0.5)


def store_phase(stack: BenchStack, plan: Plan, results: Results, mongo_url: str | None
                ) -> None:
    from bench import storebench

    b = plan.store_batch
    url = mongo_url or stack.mongo_url
    scoring = Row(f"scoring write path, ScoreStore.save x{b}", "docs/s",
                  anchor_name=f"insert_many of the same {b} docs")
    reporting = Row(f"reporting write path, apply_submission + watermark x{b}", "events/s",
                    anchor_name=f"insert_many of the same {b} docs")
    for r in range(plan.repeats):
        s = asyncio.run(storebench.run_scoring(url, f"bench_store_s{r}", b))
        p = asyncio.run(storebench.run_reporting(url, f"bench_store_r{r}", b))
        scoring.figures.append(b / s.store_seconds)
        scoring.anchors.append(b / s.insert_many_seconds)
        reporting.figures.append(b / p.store_seconds)
        reporting.anchors.append(b / p.insert_many_seconds)
    results.add(scoring)
    results.add(reporting)
    schema_check_rows(url, plan, results)
    table_size_rows(url, plan, results)
    where = "the stack's FerretDB" if mongo_url is None else "the server of --store-mongo-url"
    results.note("Store", f"batch size {b}, on {where}; every repeat writes into new "
                 "collections (databases bench_store_*, created by one write of the path "
                 "before the timing, dropped after)")


def schema_check_rows(url: str, plan: Plan, results: Results) -> None:
    """What the schema checks (services/common/schema.py) cost the write paths: the time
    spent inside them against the batch's handling time (the goal: at most 10%), and
    the batch's handling time with them against without them (in turns; on a shared
    machine the round trips' noise is larger than the checks)."""
    from bench import storebench

    b = plan.store_batch
    for name, run in (("scoring", storebench.run_scoring),
                      ("reporting", storebench.run_reporting)):
        inside = Row(f"{name} write path x{b}, time inside the schema checks",
                     "ms per batch", anchor_name="the batch's handling time (same run)",
                     higher=False, goal=0.10)
        paired = Row(f"{name} write path x{b} with schema checks", "ms per batch",
                     anchor_name="the same without them (in turns)", higher=False)
        # At least 5 pairs even in a quick run: one batch's round trips vary more than
        # the checks cost.
        for r in range(max(5, plan.repeats)):
            for checks in ((True, False) if r % 2 == 0 else (False, True)):
                done = asyncio.run(run(url, f"bench_store_c{r}{int(checks)}", b,
                                       checks=checks))
                if checks:
                    inside.figures.append(done.checks_seconds * 1000)
                    inside.anchors.append(done.store_seconds * 1000)
                    paired.figures.append(done.store_seconds * 1000)
                else:
                    paired.anchors.append(done.store_seconds * 1000)
        results.add(inside)
        results.add(paired)
    results.note("Store", "schema checks: the time inside them is timed around each check "
                 "call the write path makes (bench/storebench.py, schema_checks)")


def table_size_rows(url: str, plan: Plan, results: Results) -> None:
    """The store phase at a season's size: each call by `_id` on a collection of
    `store_stored` documents against the same call on one of 1,000 (probed in turns),
    and the services' write paths into tables pre-filled to that size against empty."""
    from bench import idcost, storebench

    big, b = plan.store_stored, plan.store_batch
    costs = [idcost.compare(url, f"bench_idcost_{r}", 1000, big) for r in range(plan.repeats)]
    for op in idcost.OPERATIONS:
        results.add(Row(f"`_id` {op} at {big:,} stored documents", "ms",
                        figures=[c.median_ms[op][1] for c in costs],
                        anchor_name="the same at 1,000 (in turns)",
                        anchors=[c.median_ms[op][0] for c in costs], higher=False, goal=1.25))
    scoring = Row(f"scoring write path at {big:,} stored, ScoreStore.save x{b}", "docs/s",
                  anchor_name="the same into an empty table", goal=0.8)
    reporting = Row(f"reporting write path at {big:,} stored, x{b}", "events/s",
                    anchor_name="the same into an empty table", goal=0.8)
    for r in range(plan.repeats):
        empty = asyncio.run(storebench.run_scoring(url, f"bench_store_e{r}", b))
        full = asyncio.run(storebench.run_scoring(url, f"bench_store_f{r}", b, stored=big))
        scoring.figures.append(b / full.store_seconds)
        scoring.anchors.append(b / empty.store_seconds)
        empty = asyncio.run(storebench.run_reporting(url, f"bench_store_e{r}", b))
        full = asyncio.run(storebench.run_reporting(url, f"bench_store_f{r}", b, stored=big))
        reporting.figures.append(b / full.store_seconds)
        reporting.anchors.append(b / empty.store_seconds)
    results.add(scoring)
    results.add(reporting)
    results.note("Store", "`_id` calls: medians of 40 calls at each size, the two sizes in "
                 "turns; `find_one_and` and `update_if` filter on `_id` and another field "
                 "(a conditional write); documents of about 1 KB (bench/idcost.py)")
    small_scan = median([c.scan_ms[0] for c in costs])
    big_scan = median([c.scan_ms[1] for c in costs])
    results.note("Store", f"a query that no `_id` answers reads every document: "
                 f"{fmt(small_scan)} ms at 1,000, {fmt(big_scan)} ms at {big:,} "
                 f"({fmt((big_scan - small_scan) / (big - 1000) * 1000)} µs per document)")
    results.note("Store", f"the write paths' tables (every collection they write) are "
                 f"filled to {big:,} documents before the timed writes; the anchor writes "
                 "into the same collections, created but empty")


def broker_phase(stack: BenchStack, plan: Plan, results: Results) -> None:
    from bench import kafka_tools

    kafka_tools.install()
    size = len(workload.encoded(workload.accepted_event(
        "province:quang-ninh", workload.PIPELINE_PERIODS[0], 1, "size")))
    n = plan.perf_records
    payload = b"x" * size
    records = [(f"k{i}".encode(), payload) for i in range(min(n, 20_000))]
    producer = Row(f"Kafka ProducerPerformance, {size} B records, acks=all", "records/s",
                   anchor_name="aiokafka producer (the platform's client), same records")
    consumer = Row("Kafka ConsumerPerformance, same records", "records/s",
                   anchor_name="raw aiokafka consumer, same records")
    for _ in range(plan.repeats):
        kafka_tools.create_topic(stack.bootstrap)
        try:
            perf = kafka_tools.producer_perf(stack.bootstrap, n, size)
            consumer.figures.append(kafka_tools.consumer_perf(stack.bootstrap, n))
            batch = asyncio.run(kafka_io.produce(stack.bootstrap, kafka_tools.TOPIC, records))
            producer.figures.append(perf.records_per_s)
            producer.anchors.append(batch.count / batch.elapsed)
            start = dict.fromkeys(batch.end, 0)
            whole = kafka_io.Produced(topic=kafka_tools.TOPIC, start=start, end=batch.end,
                                      started=0.0, elapsed=0.0)
            consumer.anchors.append(whole.count / asyncio.run(
                kafka_io.raw_consume(stack.bootstrap, whole)))
            results.note("Broker", f"ProducerPerformance {n} records: {fmt(perf.mb_per_s)} MB/s, "
                         f"latency p50 {fmt(perf.p50_ms)} ms, p99 {fmt(perf.p99_ms)} ms")
        finally:
            kafka_tools.delete_topic(stack.bootstrap)
    results.add(producer)
    results.add(consumer)
    results.note("Broker", f"the Python anchors send {len(records)} records and read back "
                 f"all {n + len(records)} on the topic")


def intake_phase(stack: BenchStack, plan: Plan, results: Results) -> int:
    """Returns the request count per run the calibration chose (for observability)."""
    from bench.intake import Intake

    intake = Intake(stack, plan.concurrency)
    bare_pid = intake.start_bare()
    try:
        # Warm-up and calibration: enough requests for the planned length, and a time
        # limit of twice that, so a slow moment shortens a run instead of stretching it.
        warm = intake.service(plan.concurrency * 2, time_limit=plan.intake_seconds)
        n = clamp(warm.load.rate * plan.intake_seconds * 2, plan.concurrency * 2, 5000)
        bare_warm = intake.bare(200, bare_pid)
        n_bare = clamp(bare_warm.load.rate * plan.intake_seconds * 2, 200, 40000)
        limit = plan.intake_seconds
        rate = Row(f"intake POST /v1/submissions, concurrency {plan.concurrency}", "req/s",
                   anchor_name="bare FastAPI endpoint, same uvicorn settings", goal=0.3)
        p50 = Row("intake latency p50", "ms", anchor_name="bare endpoint p50", higher=False)
        p99 = Row("intake latency p99", "ms", anchor_name="bare endpoint p99", higher=False)
        cpu = Row("intake server CPU per request", "ms", anchor_name="bare endpoint",
                  higher=False)
        statuses: dict[int, int] = {}
        shares: dict[str, list[float]] = {}
        bare_shares: dict[str, list[float]] = {}
        for _ in range(plan.repeats):
            b = intake.bare(n_bare, bare_pid, time_limit=limit)
            s = intake.service(n, time_limit=limit)
            for k, v in s.cpu_share.items():
                shares.setdefault(k, []).append(v)
            for k, v in b.cpu_share.items():
                bare_shares.setdefault(k, []).append(v)
            rate.figures.append(s.load.rate)
            rate.anchors.append(b.load.rate)
            p50.figures.append(s.load.p(50) * 1000)
            p50.anchors.append(b.load.p(50) * 1000)
            p99.figures.append(s.load.p(99) * 1000)
            p99.anchors.append(b.load.p(99) * 1000)
            cpu.figures.append(s.cpu_per_request * 1000)
            cpu.anchors.append(b.cpu_per_request * 1000)
            for status, count in s.load.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
        for row in (rate, p50, p99, cpu):
            results.add(row)
        results.note("Intake", f"runs of {limit:g} s (at most {n} requests to the service, "
                     f"{n_bare} to the bare endpoint); the service's statuses "
                     f"{dict(sorted(statuses.items()))}")
        results.note("Intake", "CPU during the runs, share of one core (median): service "
                     + ", ".join(f"{k} {fmt(median(v))}" for k, v in shares.items())
                     + "; bare endpoint " + ", ".join(f"{k} {fmt(median(v))}"
                                                     for k, v in bare_shares.items()))
        results.note("Intake", "each run starts from an empty submissions table (it ends "
                     "with one document per request); scoring, notifications and reporting "
                     "are stopped meanwhile, so only the intake uses FerretDB")
        kafka_intake(stack, plan, results, intake,
                     clamp(warm.load.rate * plan.intake_seconds * 2, 200, 4000))
        return n
    finally:
        intake.stop_bare()
        intake.close()


def kafka_intake(stack: BenchStack, plan: Plan, results: Results, intake: Any,
                 n: int) -> None:
    """The Kafka way in: requests produced onto emulation.submission-requests.v1, timed
    until the submissions service stored and published them all; anchor: a no-op faust
    agent reading the same records."""
    from bench.pipeline import Pipeline

    row = Row("Kafka way in: requests topic to accepted events", "req/s",
              anchor_name="no-op faust agent, same records", goal=None)
    notes = []
    for _ in range(plan.repeats):
        intake.reset_table()
        run = intake.kafka_way(n)
        row.figures.append(run.rate)
        row.anchors.append(n / Pipeline(stack).faust_on(run.produced, "bare"))
        notes.append(f"{n} requests: {fmt(run.seconds)} s, processed {run.processed:g}, "
                     f"dead-lettered {run.dead_lettered:g}")
    intake.reset_table()
    results.add(row)
    results.note("Intake", "Kafka way in (goal: at least 1,000 requests/s): "
                 + "; ".join(notes) + "; one unit's requests are new revisions in order "
                 "(keyed by unit), consumers of the accepted events stopped as above")


def observability_phase(stack: BenchStack, plan: Plan, results: Results, n: int) -> None:
    from bench import observability
    from bench.intake import Intake

    traces = stack.state / "traces"
    traces.mkdir(parents=True, exist_ok=True)
    names = list(observability.TRACING)
    rates: dict[str, list[float]] = {k: [] for k in names}
    cpus: dict[str, list[float]] = {k: [] for k in names}
    intake = Intake(stack, plan.concurrency)
    current = None
    try:
        for r in range(plan.repeats):
            # There and back (A B C D, D C B A, ...): no set-up always runs first or last,
            # and a set-up that runs twice in a row needs no second restart.
            for name in names if r % 2 == 0 else names[::-1]:
                if name != current:
                    stack.restart("submissions", observability.tracing_env(
                        name, str(traces / "{service}.jsonl")))
                    stack.set_clock(workload.CLOCK, ("submissions",))
                    intake.service(plan.concurrency // 2)  # warm-up after the restart
                    current = name
                run = intake.service(n, time_limit=plan.observability_seconds)
                rates[name].append(run.load.rate)
                cpus[name].append(run.cpu_per_request * 1000)
    finally:
        intake.close()
        stack.restart("submissions", observability.tracing_env("spans, not exported", ""))
        stack.set_clock(workload.CLOCK, ("submissions",))
    for name in names[1:]:
        results.add(Row(f"intake with tracing: {name}", "req/s", figures=rates[name],
                        anchor_name="tracing off (OTEL_SDK_DISABLED)", anchors=rates["off"],
                        goal=0.9))
        results.add(Row(f"intake CPU per request, tracing: {name}", "ms", figures=cpus[name],
                        anchor_name="tracing off", anchors=cpus["off"], higher=False,
                        goal=1.1))
    spans = observability.spans_per_request(str(traces / "submissions.jsonl"))
    scratch = str(traces / "bench-span-cost.jsonl")
    off = observability.span_seconds("off", scratch)
    for exporter, label in (("none", "spans, not exported"), ("file", "file, all spans")):
        cost = (observability.span_seconds(exporter, scratch) - off) * spans
        results.add(Row(f"tracing cost per intake request, {label}, in-process", "ms",
                        figures=[cost * 1000], anchor_name="intake CPU per request",
                        anchors=[median(cpus["off"])], higher=False, goal=0.1))
    results.note("Observability", f"a traced POST makes {fmt(spans)} spans (from the file "
                 "exporter's output); one span costs the in-process time of making it with "
                 "the SDK (and writing it) minus the no-op tracer's")
    per_request = observability.metrics_seconds_per_request()
    results.add(Row("Prometheus metrics recorded per intake request", "ms",
                    figures=[per_request * 1000], anchor_name="intake CPU per request",
                    anchors=[median(cpus["off"])], higher=False, goal=0.1))
    results.note("Observability", f"runs of {plan.observability_seconds:g} s (at most {n} "
                 "requests), the submissions service restarted for each set-up; `spans, not "
                 "exported` is `make up`'s default (OTEL_TRACES_EXPORTER=none); spans from "
                 "the OpenTelemetry instrumentations (FastAPI, pymongo, aiokafka); goals: "
                 "at most 10% slower or 10% more CPU than tracing off")


def e2e_phase(stack: BenchStack, plan: Plan, results: Results) -> None:
    from bench.intake import end_to_end

    e2e = end_to_end(stack, plan.e2e_samples)
    post = sorted(e2e.post_latencies)
    from bench.stats import percentile

    results.add(Row("end to end p50: POST to the unit in reporting's read model", "ms",
                    figures=[e2e.p(50) * 1000], anchor_name="the POST alone, p50",
                    anchors=[percentile(post, 50) * 1000], higher=False))
    results.add(Row("end to end p99", "ms", figures=[e2e.p(99) * 1000],
                    anchor_name="the POST alone, p99", anchors=[percentile(post, 99) * 1000],
                    higher=False))
    results.note("End to end", f"{len(e2e.latencies)} units one after another (one sample "
                 f"each, so p99 is about the worst); {e2e.counted_in_report} of them counted in "
                 "GET /v1/reports/national at the end; all services running")


def e2e_load_phase(stack: BenchStack, plan: Plan, results: Results) -> None:
    """An open-loop load of first reports at `load_rate` for `load_seconds` (each run
    over (unit, period) pairs of its own), every `load_every`-th followed end to end."""
    from bench import openloop
    from bench.pipeline import PROCESSES
    from bench.probes import CpuMeter
    from bench.stats import percentile

    rate = plan.load_rate
    pool = list(openloop.pairs(workload.LOAD_PERIODS, workload.units))
    # A second of the load first, not counted (a fresh stack's first requests are slow).
    warm, probe, pool = pool[:int(rate)], pool[int(rate):int(rate) + 600], pool[int(rate) + 600:]
    openloop.run(stack, warm, rate, len(warm))
    n = min(plan.load_max, int(rate * plan.load_seconds), len(pool) // plan.repeats)
    p50 = Row(f"end to end under load p50: {rate:g} POST/s offered, POST to the unit in "
              "reporting's read model", "ms", anchor_name="the POST alone, p50 (same run)",
              higher=False)
    p99 = Row("end to end under load p99 (goal: under 1,000 ms)", "ms",
              anchor_name="the POST alone, p99 (same run)", higher=False)
    accepted = Row(f"intake under an open-loop load of {rate:g} POST/s: 202 answers per "
                   "second", "req/s", anchor_name="requests sent per second")
    for r in range(plan.repeats):
        meter = CpuMeter({**{p: stack.pid(p) for p in (*PROCESSES, "submissions")},
                          "client": os.getpid()})
        meter.start()
        run = openloop.run(stack, pool[r * n:(r + 1) * n], rate, plan.load_every)
        meter.stop()
        waits = run.arrivals.latencies() + run.unseen
        tail = run.arrivals.after_answer() or [math.nan]
        post = run.post_latencies or [math.nan]
        p50.figures.append(percentile(waits, 50) * 1000 if waits else math.nan)
        p50.anchors.append(percentile(post, 50) * 1000)
        p99.figures.append(percentile(waits, 99) * 1000 if waits else math.nan)
        p99.anchors.append(percentile(post, 99) * 1000)
        accepted.figures.append(run.accepted_rate)
        accepted.anchors.append(run.sent_rate)
        results.note("End to end under load", f"{run.sent} requests in "
                     f"{fmt(run.send_seconds)} s (sent {fmt(run.sent_rate)}/s, the "
                     f"scheduler at most {fmt(run.late_max * 1000)} ms late), answered "
                     f"within {fmt(run.elapsed)} s: statuses "
                     f"{dict(sorted(run.statuses.items()))} (0: no answer within "
                     f"{openloop.ANSWER_SECONDS:g} s); {len(waits)} followed (from the 202 "
                     f"to the read model: p50 {fmt(percentile(tail, 50) * 1000)} ms, p99 "
                     f"{fmt(percentile(tail, 99) * 1000)} ms), {len(run.unseen)} of them not "
                     f"in the read model {fmt(run.wait)} s after the last answer (counted "
                     "as the time until then, a lower bound); CPU, share of one core: "
                     + ", ".join(f"{k} {fmt(v)}" for k, v in meter.share().items()))
    for row in (p50, p99, accepted):
        results.add(row)
    closed = openloop.closed_loop(stack, probe, plan.concurrency, 5.0)
    results.note("End to end under load", f"for comparison, the same kind of requests with "
                 f"at most {plan.concurrency} in flight (closed loop, as the intake phase, "
                 f"consumers running) right after: {fmt(closed.rate)} 202s/s, p50 "
                 f"{fmt(closed.p(50) * 1000)} ms, p99 {fmt(closed.p(99) * 1000)} ms, "
                 f"statuses {dict(sorted(closed.statuses.items()))}")
    met = "met" if p99.figure < 1000 else "**not met**"
    results.note("End to end under load", f"goal p99 under 1 s: {met}; " + (
        "the intake sustained the offered rate" if accepted.ratio >= 0.95 else
        f"the intake did not sustain {rate:g}/s on this machine: it answered 202 to "
        f"{fmt(accepted.figure)}/s (the rest: the statuses above)"))
    results.note("End to end under load", f"runs of at most {n} first reports of (unit, "
                 f"period) pairs no other request uses (periods {workload.LOAD_PERIODS[0]}-"
                 f"{workload.LOAD_PERIODS[-1]}), sent at their scheduled times whatever the "
                 f"answers (open loop); every {plan.load_every}th followed: reporting's read "
                 f"model asked for all followed units at once (`_id` `$in`) every "
                 f"{openloop.POLL_SECONDS * 1000:g} ms, from the POST's send to the answer "
                 f"that held it; all services running; {len(warm)} requests at the same rate "
                 "before the runs, not counted")


REPLAY_RUBRIC = "province-2026.1"  # a rescore is of one unit type: the provinces


def replay_phase(stack: BenchStack, plan: Plan, results: Results) -> None:
    """A season's events of one period on the topic (the consumers skip them), then the
    rescore and the rebuild as jobs, each against a raw read of the same records."""
    from bench import replay
    from bench.pipeline import SUBMISSIONS

    n, period, limit = plan.replay_events, workload.REPLAY_PERIOD, plan.replay_timeout
    for name in CONSUMERS:
        stack.stop(name)
    try:
        produced = asyncio.run(kafka_io.produce(stack.bootstrap, SUBMISSIONS,
                                                replay.records(n, period)))
        skip_to_end(stack)
    finally:
        for name in CONSUMERS:
            stack.start(name)
    stack.set_clock(workload.CLOCK)
    on_topic = sum(asyncio.run(kafka_io.end_offsets(stack.bootstrap, SUBMISSIONS)).values())
    anchor = f"raw aiokafka consumer reading the same {n:,} records"
    rows = {"rescore": Row(f"rescore of a {n:,}-event period ({REPLAY_RUBRIC}), POST to job "
                           "done (goal: at most 60 s)", "s", anchor_name=anchor, higher=False),
            "rebuild": Row("rebuild of reporting's read models, POST to job done (goal: at "
                           "most 60 s)", "s", anchor_name=anchor, higher=False)}
    started = time.monotonic()
    for r in range(plan.repeats):
        began = time.monotonic()
        raw = asyncio.run(kafka_io.raw_consume(stack.bootstrap, produced))
        for kind, start in (("rescore", lambda: replay.rescore(stack, period, REPLAY_RUBRIC,
                                                               limit)),
                            ("rebuild", lambda: replay.rebuild(stack, limit))):
            job = start()
            rows[kind].figures.append(job.seconds)
            rows[kind].anchors.append(raw)
            results.note("Replay", replay.describe(job, limit))
        spent = time.monotonic() - started
        if r + 1 < plan.repeats and spent + time.monotonic() - began > plan.replay_budget:
            results.note("Replay", f"{r + 1} repeat(s) only: the phase had run {spent:.0f} s "
                         f"(budget {plan.replay_budget:.0f} s)")
            break
    for kind, row in rows.items():
        results.add(row)
        met = row.figure <= 60
        results.note("Replay", f"{kind}: goal at most 60 s {'met' if met else '**not met**'}")
    results.note("Replay", f"{n:,} accepted events of {period} (its {len(workload.units(period))} "
                 "units, rising revisions) produced in "
                 f"{fmt(produced.elapsed)} s while the consumers were stopped (their groups "
                 f"then start after them); the topic held {on_topic:,} records, all of which "
                 "each job reads (the rescore scores the latest revision of the period's "
                 "provinces; the rebuild drops the read models and replays every topic it "
                 f"reads); jobs polled every {replay.POLL_SECONDS:g} s")


def pipeline_phase(stack: BenchStack, plan: Plan, results: Results) -> None:
    from bench.pipeline import Pipeline

    pipe = Pipeline(stack)
    pipe.quiesce()
    calibration = pipe.batch(10, timeout=180)
    slowest = max(calibration.done.values())
    n = clamp(10 / slowest * plan.pipeline_seconds, 20, 3000)
    rows = {
        "reporting": Row("pipeline: submissions topic to reporting's read model", "events/s",
                         anchor_name="raw aiokafka consumer, same records", goal=0.5),
        "reporting-faust": Row("pipeline: reporting (as above)", "events/s",
                               anchor_name="no-op faust agent, same records", goal=0.25),
        "scoring": Row("scoring consumer (same batch, concurrently)", "events/s",
                       anchor_name="no-op faust agent", goal=0.25),
        "notifications": Row("notifications consumer (same batch, concurrently)", "events/s",
                             anchor_name="no-op faust agent", goal=0.25),
    }
    cpu: dict[str, list[float]] = {}
    for _ in range(plan.repeats):
        drained = pipe.quiesce()
        b = pipe.batch(n, timeout=max(60.0, plan.pipeline_seconds * 4))
        raw = n / pipe.raw(b)
        bare = n / pipe.faust(b, "bare")
        rows["reporting"].figures.append(b.rate("reporting"))
        rows["reporting"].anchors.append(raw)
        rows["reporting-faust"].figures.append(b.rate("reporting"))
        rows["reporting-faust"].anchors.append(bare)
        for name in ("scoring", "notifications"):
            rows[name].figures.append(b.rate(name))
            rows[name].anchors.append(bare)
        for proc, share in b.cpu.items():
            cpu.setdefault(proc, []).append(share)
        dead = {k: v for k, v in b.dead_lettered.items() if v}
        results.note("Pipeline", f"batch of {n}: produced in {fmt(b.produce_seconds)} s; "
                     + ", ".join(f"{k} {fmt(v)} s" for k, v in b.done.items())
                     + (f"; dead-lettered {dead}" if dead else "")
                     + ("" if drained else "; the previous batch had not drained"))
    for row in rows.values():
        results.add(row)
    results.note("Pipeline", "CPU while a batch ran, share of one core (median): " + ", ".join(
        f"{k} {fmt(median(v))}" for k, v in cpu.items()))
    season_size(stack, plan, results, pipe, n)
    consumer_path(stack, plan, results)
    results.note("Pipeline", f"{n} events per batch (a calibration batch of 10 aimed at "
                 f"{plan.pipeline_seconds:g} s for the slowest consumer); the consumers' "
                 "rates run from the first produce to their last record processed; the "
                 "anchors from their first fetch (raw) or first record (faust) to the last")


SEASON_SIZES = (1_000, 20_000)  # stored documents per collection: a start, a season


def season_size(stack: BenchStack, plan: Plan, results: Results, pipe: Any, n: int
                ) -> None:
    """The same batches once every per-event collection of the consumers holds 1,000
    documents, then once it holds a season's 20,000 (bench/prefill.py): the per-event
    cost at the larger size against the smaller."""
    from bench import prefill
    from bench.pipeline import CONSUMERS

    costs: dict[int, dict[str, list[float]]] = {}
    for size in SEASON_SIZES:
        started = time.monotonic()
        filled = asyncio.run(prefill.fill(stack.mongo_url, size))
        results.note("Pipeline", f"filled to {size:,} documents in "
                     f"{time.monotonic() - started:.0f} s: " + ", ".join(
                         f"{k} {v:,}" for k, v in filled.items()))
        costs[size] = {name: [] for name in CONSUMERS}
        for _ in range(plan.repeats):
            drained = pipe.quiesce()
            b = pipe.batch(n, timeout=max(60.0, plan.pipeline_seconds * 4))
            for name in CONSUMERS:
                costs[size][name].append(1000 / b.rate(name))
            results.note("Pipeline", f"batch of {n} at {size:,} stored: " + ", ".join(
                f"{k} {fmt(v)} s" for k, v in b.done.items())
                + ("" if drained else "; the previous batch had not drained"))
    small, large = SEASON_SIZES
    for name in CONSUMERS:
        results.add(Row(f"{name}: per-event cost at {large:,} stored documents", "ms",
                        figures=costs[large][name], anchor_name=f"the same at {small:,}",
                        anchors=costs[small][name], goal=1.2, higher=False))


def profile_phase(stack: BenchStack, plan: Plan, results: Results) -> None:
    from bench.profiles import run_profiles

    out_dir = stack.state / "profiles"
    records = 10 if plan.repeats == 1 else 20
    for hop in asyncio.run(run_profiles(stack, records, out_dir)):
        section = f"Profile: {hop.name}"
        results.note(section, f"{hop.records} records one after another, not profiled: "
                     f"{fmt(hop.seconds / hop.records * 1000)} ms per record "
                     f"(full profile: {out_dir / (hop.name + '.txt')})")
        results.note(section, "database calls (collection.method{filter fields}): "
                     + "; ".join(hop.calls))
        results.note(section, f"profiled on {hop.records} more records, the platform's "
                     "functions by inclusive wall time (the profiler slows Python code): "
                     + "; ".join(hop.functions))


def consumer_path(stack: BenchStack, plan: Plan, results: Results) -> None:
    """What the services' RecordLoop (envelope, JSON Schema, span) and its tracing cost
    per record, apart from any store: faust agents on a batch of their own, large enough
    to time (the pipeline's batches are as small as its slowest consumer)."""
    from bench import kafka_tools
    from bench.pipeline import Pipeline

    topic, n = "bench.recordloop.v1", plan.recordloop_batch
    pipe = Pipeline(stack)
    records = pipe.records(n)
    trace_env = {"OTEL_TRACES_EXPORTER": "file",
                 "OTEL_TRACES_FILE": str(stack.state / "traces" / "{service}.jsonl")}
    loop = Row(f"faust agent + RecordLoop, no-op handler, {n} events", "events/s",
               anchor_name="no-op faust agent, same records")
    traced = Row("faust agent + RecordLoop with tracing to a file", "events/s",
                 anchor_name="the same without tracing", goal=0.9)
    kafka_tools.create_topic(stack.bootstrap, name=topic)
    try:
        batch = asyncio.run(kafka_io.produce(stack.bootstrap, topic, records))
        for _ in range(plan.repeats):
            bare = n / pipe.faust_on(batch, "bare")
            plain = n / pipe.faust_on(batch, "recordloop")
            with_spans = n / pipe.faust_on(batch, "recordloop", tracing=trace_env)
            loop.figures.append(plain)
            loop.anchors.append(bare)
            traced.figures.append(with_spans)
            traced.anchors.append(plain)
    finally:
        kafka_tools.delete_topic(stack.bootstrap, name=topic)
    results.add(loop)
    results.add(traced)


# -- the run ---------------------------------------------------------------------------

def skip_to_end(stack: BenchStack) -> None:
    """Stopped consumers skip what the intake produced meanwhile (each consumer group
    starts at the topic's end), so their catching up disturbs no later figure."""
    ends = asyncio.run(kafka_io.end_offsets(stack.bootstrap, "emulation.submissions.v1"))
    for name in CONSUMERS:
        asyncio.run(kafka_io.commit_offsets(stack.bootstrap, f"emulation-{name}",
                                            {"emulation.submissions.v1": ends}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one small repeat of each")
    parser.add_argument("--only", default=",".join(DEFAULT_PHASES),
                        help=f"comma-separated phases of {', '.join(PHASES)}")
    parser.add_argument("--keep-stack", action="store_true", help="leave the stack running")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--store-mongo-url", default=None,
                        help="run the store phase against this server (e.g. a real MongoDB) "
                             "instead of the stack's FerretDB")
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}")
    plan = Plan.quick() if args.quick else Plan(repeats=args.repeats)
    base = int(os.environ.get("BENCH_PORT_BASE", DEFAULT_BASE))
    results = Results(setting={**machine(), "repeats": plan.repeats, "port_base": base})
    started = time.monotonic()

    def timed(name: str, step: Callable[[], object]) -> None:
        print(f"{name} ...", flush=True)
        t = time.monotonic()
        step()
        print(f"  {name} done in {time.monotonic() - t:.0f} s", flush=True)

    with running_stack(base, keep=args.keep_stack) as stack:
        wait_for_registry(stack)
        stack.set_clock(workload.CLOCK)
        if "store" in phases:
            timed("store", lambda: store_phase(stack, plan, results, args.store_mongo_url))
        if "broker" in phases:
            timed("broker", lambda: broker_phase(stack, plan, results))
        if "intake" in phases or "observability" in phases:
            for name in CONSUMERS:  # the intake alone on FerretDB
                stack.stop(name)
            n = plan.concurrency * 4
            if "intake" in phases:
                holder: list[int] = []
                timed("intake", lambda: holder.append(intake_phase(stack, plan, results)))
                n = holder[0]
            if "observability" in phases:
                timed("observability", lambda: observability_phase(stack, plan, results, n))
            skip_to_end(stack)
            for name in CONSUMERS:
                stack.start(name)
            stack.set_clock(workload.CLOCK)
        if "e2e" in phases:
            timed("e2e", lambda: e2e_phase(stack, plan, results))
        if "e2e-load" in phases:
            timed("e2e-load", lambda: e2e_load_phase(stack, plan, results))
        if "pipeline" in phases:
            timed("pipeline", lambda: pipeline_phase(stack, plan, results))
        if "replay" in phases:
            timed("replay", lambda: replay_phase(stack, plan, results))
        if "profile" in phases:
            timed("profile", lambda: profile_phase(stack, plan, results))
    results.setting["duration_s"] = round(time.monotonic() - started)
    results.setting["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print()
    print(table(results.rows))
    state = ROOT / ".local" / f"bench-{base}"
    state.mkdir(parents=True, exist_ok=True)
    (state / "results.json").write_text(results.to_json())
    write_markdown(args.out, results)
    print(f"\nwritten: {args.out} and {state / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
