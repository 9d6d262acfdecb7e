"""Store: the scoring and reporting write paths, called directly (their repository
classes on the async pymongo client the services use) against the stack's FerretDB,
versus raw pymongo insert_many of the same documents at the same batch size."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient

from bench import workload


@dataclass
class StoreRun:
    store_seconds: float
    insert_many_seconds: float
    scan_seconds: float  # one query that no `_id` answers, over the batch's documents
    by_id_seconds: float  # one lookup by `_id`


def score_docs(n: int, revision: int) -> list[dict[str, Any]]:
    """Score documents as services.scoring.service.Scorer.score builds them."""
    from services.scoring.domain import score_submission
    from services.scoring.events import score_event_id
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


async def run_scoring(mongo_url: str, db_name: str, batch: int) -> StoreRun:
    from services.scoring.store import ScoreStore, score_key

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        db = client[db_name]
        docs = score_docs(batch, revision=1)
        store = ScoreStore(db)
        started = time.perf_counter()
        for doc in docs:  # one record at a time, as the agent calls it
            await store.save(dict(doc))
        store_seconds = time.perf_counter() - started
        raw = [{**d, "_id": score_key(d["unit_id"], d["period"])} for d in docs]
        insert_many = await _insert_many(db["raw_scores"], raw)
        scan, by_id = await _probe(db["scores"], raw[len(raw) // 2]["_id"])
        return StoreRun(store_seconds, insert_many, scan, by_id)
    finally:
        await client.drop_database(db_name)
        await client.close()


async def run_reporting(mongo_url: str, db_name: str, batch: int) -> StoreRun:
    from services.reporting import projections
    from services.reporting.store import ReadModel

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        db = client[db_name]
        events = accepted_data(batch, revision=1)
        model = ReadModel(db)
        raw = []
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
        scan, by_id = await _probe(db["rm_submissions"], raw[len(raw) // 2]["_id"])
        return StoreRun(store_seconds, insert_many, scan, by_id)
    finally:
        await client.drop_database(db_name)
        await client.close()


async def _insert_many(coll: Any, docs: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    await coll.insert_many(docs, ordered=False)
    return time.perf_counter() - started


async def _probe(coll: Any, key: str) -> tuple[float, float]:
    """What a query costs that no `_id` answers (FerretDB decodes every document), and
    one that `_id` alone answers (pushed down to SQLite)."""
    started = time.perf_counter()
    await coll.find_one({"bench_no_such_field": 1})
    scan = time.perf_counter() - started
    started = time.perf_counter()
    await coll.find_one({"_id": key})
    return scan, time.perf_counter() - started
