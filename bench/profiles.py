"""Where the time of one record goes, hop by hop: the services' own handlers run in this
process (built as their bootstrap builds them, on databases of their own on the stack's
FerretDB and on its Kafka), under pyinstrument, with every MongoDB call timed by the
shape of its filter. The full profiles go to .local/bench-<base>/profiles/.

Hops: the intake (Intake.submit), scoring (RecordLoop + Scorer.on_submission) and
reporting (RecordLoop + Reports.on_submission)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from bench import workload
from bench.stack import BenchStack
from bench.stats import median

TIMED = ("find_one", "update_one", "replace_one", "insert_one", "insert_many", "delete_one",
         "count_documents", "bulk_write")


@dataclass
class CallLog:
    """Seconds of each database call, by collection, method and filter shape."""

    calls: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def top(self, per: int, limit: int = 10) -> list[str]:
        rows = sorted(self.calls.items(), key=lambda kv: -sum(kv[1]))[:limit]
        return [f"{k}: {len(v) / per:g} per record, median {median(v) * 1000:.1f} ms"
                for k, v in rows]


class TimedCursor:
    """A find() cursor whose to_list() is timed (sort, limit and skip keep the timing)."""

    def __init__(self, cursor: Any, key: str, log: CallLog) -> None:
        self._cursor, self._key, self._log = cursor, key, log

    def __aiter__(self) -> Any:
        return self._cursor.__aiter__()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._cursor, name)
        if name in ("sort", "limit", "skip"):
            return lambda *a, **k: TimedCursor(attr(*a, **k), self._key, self._log)
        if name != "to_list":
            return attr

        async def to_list(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await attr(*args, **kwargs)
            finally:
                self._log.calls[self._key].append(time.perf_counter() - started)

        return to_list


class TimedCollection:
    """Wraps an async pymongo collection; times the calls named in TIMED and find()."""

    def __init__(self, coll: Any, log: CallLog) -> None:
        self._coll, self._log = coll, log

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._coll, name)
        if name == "find":
            def find(*args: Any, **kwargs: Any) -> TimedCursor:
                flt = args[0] if args and isinstance(args[0], dict) else {}
                key = f"{self._coll.name}.find{{{', '.join(sorted(flt))}}}"
                return TimedCursor(attr(*args, **kwargs), key, self._log)

            return find
        if name not in TIMED:
            return attr

        async def timed(*args: Any, **kwargs: Any) -> Any:
            flt = args[0] if args and isinstance(args[0], dict) else {}
            shape = "{" + ", ".join(sorted(flt)) + "}"
            upsert = " upsert" if kwargs.get("upsert") else ""
            started = time.perf_counter()
            try:
                return await attr(*args, **kwargs)
            finally:
                self._log.calls[f"{self._coll.name}.{name}{shape}{upsert}"].append(
                    time.perf_counter() - started)

        return timed


def timed_db(db: Any, log: CallLog) -> Any:
    """A database whose collections are timed (db[name] and db.name alike)."""

    class Timed:
        def __getitem__(self, name: str) -> TimedCollection:
            return TimedCollection(db[name], log)

        def __getattr__(self, name: str) -> Any:
            return getattr(db, name)

    return Timed()


@dataclass
class Message:
    """What RecordLoop reads of a faust event's message."""

    topic: str
    value: bytes
    key: bytes
    partition: int = 0
    offset: int = 0
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class HopProfile:
    name: str
    records: int
    seconds: float
    calls: list[str]
    functions: list[str]


async def _profile(name: str, records: int, out_dir: Path,
                   run: Callable[[int], Awaitable[None]], log: CallLog) -> HopProfile:
    """Time the hop on records 0..n-1 (its database calls timed, no profiler: the
    profiler's overhead would swell the Python side), then profile it on records n..2n-1."""
    from pyinstrument import Profiler

    started = time.perf_counter()
    await run(0)
    seconds = time.perf_counter() - started
    calls = log.top(records)
    profiler = Profiler(interval=0.001, async_mode="enabled")
    profiler.start()
    await run(records)
    profiler.stop()
    await asyncio.to_thread(_write, out_dir / f"{name}.txt",
                            profiler.output_text(unicode=False, color=False))
    return HopProfile(name, records, seconds, calls, _functions(profiler, records))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _functions(profiler: Any, records: int, limit: int = 8) -> list[str]:
    """The platform's functions by inclusive time per record (recursion counted once)."""
    root = profiler.last_session.root_frame()
    total: dict[str, float] = defaultdict(float)

    def walk(frame: Any, seen: frozenset[str]) -> None:
        path = frame.file_path_short or ""
        key = f"{frame.function} ({path}:{frame.line_no})"
        mine = "services/" in path and "services/common/runtime" not in path
        if mine and key not in seen:
            total[key] += frame.time
        for child in frame.children:
            walk(child, seen | {key} if mine else seen)

    if root is not None:
        walk(root, frozenset())
    top = sorted(total.items(), key=lambda kv: -kv[1])[:limit]
    return [f"{k}: {v / records * 1000:.1f} ms per record" for k, v in top]


async def run_profiles(stack: BenchStack, records: int, out_dir: Path) -> list[HopProfile]:
    from services.common.clock import ControlledClock
    from services.common.kafka import EventProducer, RecordLoop
    from services.common.registry_replica import RegistryReplica
    from services.common.topics import DEAD_LETTERS, SUBMISSIONS
    from services.reporting.service import Reports
    from services.reporting.store import ReadModel
    from services.scoring.bootstrap import build_parts
    from services.scoring.settings import ScoringSettings
    from services.submissions.registry import load_registry
    from services.submissions.service import Intake
    from services.submissions.store import SubmissionStore

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    producer = EventProducer(stack.bootstrap, "bench-profile",
                             auth=ScoringSettings().kafka_auth())
    clock = ControlledClock()
    clock.set(datetime.fromisoformat(workload.CLOCK))
    period = workload.PIPELINE_PERIODS[-1]
    units = workload.units(period)[:records * 2]
    out: list[HopProfile] = []
    names = {"submissions": "bench_profile_submissions", "scoring": "bench_profile_scoring",
             "reporting": "bench_profile_reporting"}
    try:
        # The consumers' copies of the registry, as their agents built them.
        for own in ("scoring", "reporting"):
            for coll in ("registry_units", "registry_clusters"):
                docs = await client[f"emulation_{own}"][coll].find({}).to_list(None)
                if docs:
                    await client[names[own]][coll].insert_many(docs)

        log = CallLog()
        intake = Intake(store=SubmissionStore(timed_db(client[names["submissions"]], log)),
                        producer=producer, registry=load_registry(), clock=clock)

        async def submit_all(first: int) -> None:
            for i, unit in enumerate(units[first:first + records]):
                await intake.submit(workload.request_body(unit, period, i), f"profile-{i}")

        out.append(await _profile("intake", records, out_dir, submit_all, log))

        messages = [Message(SUBMISSIONS, workload.encoded(
            workload.accepted_event(unit, period, 1, "profile")), unit.encode())
            for unit in units]
        loop = RecordLoop(consumer="bench-profile", producer=producer,
                          dead_letter_topic=DEAD_LETTERS, source="urn:emulation:service:bench")

        log = CallLog()
        db = timed_db(client[names["scoring"]], log)
        parts = build_parts(ScoringSettings(kafka_bootstrap=stack.bootstrap), db, producer,
                            clock)

        async def score_all(first: int) -> None:
            for m in messages[first:first + records]:
                await loop.process(m, parts.scorer.on_submission)

        out.append(await _profile("scoring", records, out_dir, score_all, log))

        log = CallLog()
        db = timed_db(client[names["reporting"]], log)
        reports = Reports(model=ReadModel(db), replica=RegistryReplica(db), clock=clock)

        async def report_all(first: int) -> None:
            for m in messages[first:first + records]:
                await loop.process(m, reports.on_submission)

        out.append(await _profile("reporting", records, out_dir, report_all, log))
    finally:
        for db_name in names.values():
            await client.drop_database(db_name)
        await producer.stop()
        await client.close()
    return out
