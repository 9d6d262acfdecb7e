"""Store: the scoring and reporting write paths, called directly (their repository
classes on the async pymongo client the services use) against the stack's FerretDB,
versus raw pymongo insert_many of the same documents at the same batch size."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient

from bench import workload


@dataclass
class StoreRun:
    store_seconds: float
    insert_many_seconds: float
    # Spent in the schema checks (services/common/schema.py) of the timed writes.
    checks_seconds: float = 0.0


# The store modules whose schema checks are timed, and the checks they call.
CHECKED_MODULES = ("services.scoring.store", "services.reporting.store")
CHECKS = ("validated", "validated_set", "validated_update")


@dataclass
class CheckTimer:
    seconds: float = 0.0
    calls: int = 0
    originals: dict[tuple[str, str], Any] = field(default_factory=dict)


@contextmanager
def schema_checks(on: bool) -> Iterator[CheckTimer]:
    """The write paths with their schema checks (timed) or without any."""
    import importlib

    from services.common import schema

    timer = CheckTimer()

    def timed(check: Any) -> Any:
        @functools.wraps(check)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return check(*args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - started
                timer.calls += 1
        return wrapper

    was, schema.CHECKS = schema.CHECKS, on
    for name in CHECKED_MODULES:
        module = importlib.import_module(name)
        for check in CHECKS:
            if hasattr(module, check):
                timer.originals[(name, check)] = getattr(module, check)
                setattr(module, check, timed(getattr(module, check)))
    try:
        yield timer
    finally:
        schema.CHECKS = was
        for (name, check), original in timer.originals.items():
            setattr(importlib.import_module(name), check, original)


def score_docs(n: int, revision: int) -> list[dict[str, Any]]:
    """Score documents as services.scoring.service.Scorer.score builds them."""
    from services.scoring.domain import score_submission
    from services.scoring.produced_events import score_event_id
    from services.scoring.rubrics import load_rubrics

    rubrics = load_rubrics(None)
    units = workload.units(workload.PIPELINE_PERIODS[0])
    docs = []
    for i in range(n):
        unit = units[i % len(units)]
        period = workload.PIPELINE_PERIODS[(i // len(units)) % len(workload.PIPELINE_PERIODS)]
        unit_type = unit.split(":")[0]
        rubric = rubrics.in_force(unit_type, period)
        assert rubric is not None, f"no {unit_type} rubric for {period}"
        content = workload.request_body(unit, period, revision)
        score = score_submission(rubric, content, True)
        now = datetime.now(UTC).isoformat()
        doc: dict[str, Any] = {
            "unit_id": unit, "period": period, "unit_type": unit_type, "total": score.total,
            "max": score.max, "breakdown": score.breakdown_dicts(),
            "rubric_version": score.rubric_version, "submission_id": f"bench-{i}",
            "revision": revision, "on_time": True, "received_at": now,
            "first_received_at": now, "scored_at": now}
        doc["event_id"] = score_event_id(doc)
        docs.append(doc)
    return docs


def accepted_data(n: int, revision: int) -> list[tuple[str, dict[str, Any]]]:
    """(event time, data) of accepted-submission events, as reporting receives them."""
    units = workload.units(workload.PIPELINE_PERIODS[0])
    out = []
    for i in range(n):
        unit = units[i % len(units)]
        period = workload.PIPELINE_PERIODS[(i // len(units)) % len(workload.PIPELINE_PERIODS)]
        event = workload.accepted_event(unit, period, revision, "store")
        out.append((event["time"], event["data"]))
    return out


async def prepare(db: Any, warm_up: Any, stored: int) -> None:
    """Run the write path once on a record of its own (so every collection it writes
    exists, with its indexes, as in a running service), then fill each of those
    collections to `stored` documents shaped like the one it holds, under other `_id`s:
    the timed writes meet tables of a season's size and none of these documents."""
    await warm_up()
    if not stored:
        return
    for name in await db.list_collection_names():
        like = await db[name].find_one({})
        if like is None:
            continue
        for start in range(0, stored - 1, 2000):
            await db[name].insert_many([
                {**like, "_id": f"prefill-{i}", "period": 1900 + i % 100}
                for i in range(start, min(stored - 1, start + 2000))], ordered=False)


async def run_scoring(mongo_url: str, db_name: str, batch: int, stored: int = 0,
                      checks: bool = True) -> StoreRun:
    from services.scoring.store import ScoreStore, score_key

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        db = client[db_name]
        docs = score_docs(batch, revision=1)
        store = ScoreStore(db)
        await prepare(db, lambda: store.save({**docs[0], "period": 1899}), stored)
        with schema_checks(checks) as timer:
            started = time.perf_counter()
            for doc in docs:  # one record at a time, as the agent calls it
                await store.save(dict(doc))
            store_seconds = time.perf_counter() - started
        raw = [{**d, "_id": score_key(d["unit_id"], d["period"])} for d in docs]
        insert_many = await _insert_many(db["raw_scores"], raw)
        return StoreRun(store_seconds, insert_many, timer.seconds)
    finally:
        await client.drop_database(db_name)
        await client.close()


async def run_reporting(mongo_url: str, db_name: str, batch: int, stored: int = 0,
                        checks: bool = True) -> StoreRun:
    from services.reporting import projections
    from services.reporting.store import ReadModel

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        db = client[db_name]
        events = accepted_data(batch, revision=1)
        model = ReadModel(db)
        warm_first, warm_latest = projections.submission_parts(events[0][1])
        await prepare(db, lambda: model.apply_submission(
            "warm-up|1899", {"unit_id": "warm-up", "period": 1899}, warm_first, warm_latest),
            stored)
        raw = []
        with schema_checks(checks) as timer:
            started = time.perf_counter()
            for event_time, data in events:  # what Reports.on_submission does per event
                first, latest = projections.submission_parts(data)
                key = projections.unit_key(data["unit_id"], data["period"])
                base = {"unit_id": data["unit_id"], "period": int(data["period"])}
                await model.apply_submission(key, base, first, latest)
                await model.advance_watermark(projections.parse_time(event_time))
                raw.append({"_id": key, **base, **first, **latest})
            store_seconds = time.perf_counter() - started
        insert_many = await _insert_many(db["raw_submissions"], raw)
        return StoreRun(store_seconds, insert_many, timer.seconds)
    finally:
        await client.drop_database(db_name)
        await client.close()


async def _insert_many(coll: Any, docs: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    await coll.insert_many(docs, ordered=False)
    return time.perf_counter() - started
