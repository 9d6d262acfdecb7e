"""A season's worth of stored documents before the pipeline is timed again: each
consumer's collections keyed by unit and period (`_id` holds the period) are filled to
`target` documents with copies of what the consumers stored for the pipeline's periods,
under periods no workload uses (FILL_FROM on), so the shapes are the services' own and
no period the benchmarks time is touched."""

from __future__ import annotations

import asyncio
import copy
import itertools
from typing import Any

from pymongo import AsyncMongoClient

from bench import workload

DATABASES = ("emulation_reporting", "emulation_scoring", "emulation_notifications")
FILL_FROM = 3000  # the first of the years filled: no workload, test or registry uses them
MIN_SAMPLE = 50  # a collection with fewer pipeline documents is not per event
CHUNK = 1000


def _copy(doc: dict[str, Any], period: int) -> dict[str, Any] | None:
    """`doc` moved to `period` (its `_id` and `period` field); None if its `_id` does
    not hold its period (nothing to make it unique by)."""
    old = str(doc["period"])
    key = str(doc["_id"])
    if old not in key:
        return None
    new = copy.deepcopy(doc)
    new["_id"], new["period"] = key.replace(old, str(period), 1), period
    return new


async def fill_collection(coll: Any, target: int) -> int:
    """Documents added so that `coll` holds `target` (none if it is not per event)."""
    sample = await coll.find(
        {"period": {"$in": list(workload.PIPELINE_PERIODS)}}).to_list(None)
    if len(sample) < MIN_SAMPLE:
        return 0
    need = target - await coll.count_documents({})
    first, span = workload.PIPELINE_PERIODS[0], len(workload.PIPELINE_PERIODS)
    # After the copies an earlier fill made (a second fill to a larger size).
    last = await coll.find_one({"period": {"$gte": FILL_FROM}}, sort=[("period", -1)])
    start = 0 if last is None else (int(last["period"]) - FILL_FROM) // span + 1
    added, copies = 0, itertools.count(start)
    batch: list[dict[str, Any]] = []
    while added + len(batch) < need:
        # Each copy of the sample moves every pipeline period to a new one of its own.
        base = FILL_FROM + next(copies) * span
        for doc in sample:
            moved = _copy(doc, base + int(doc["period"]) - first)
            if moved is None:
                return added
            batch.append(moved)
            if added + len(batch) >= need:
                break
        if len(batch) >= CHUNK or added + len(batch) >= need:
            await coll.insert_many(batch, ordered=False)
            added, batch = added + len(batch), []
    return added


async def fill(mongo_url: str, target: int) -> dict[str, int]:
    """`db.collection` -> documents it holds after the fill, for those filled."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    out = {}

    async def one(name: str) -> None:
        db = client[name]
        for coll_name in sorted(await db.list_collection_names()):
            if await fill_collection(db[coll_name], target):
                out[f"{name}.{coll_name}"] = await db[coll_name].count_documents({})

    try:  # the databases side by side (each its own SQLite file on FerretDB)
        await asyncio.gather(*(one(name) for name in DATABASES))
    finally:
        await client.close()
    return dict(sorted(out.items()))


def stored(mongo_url: str) -> int:
    """The most documents any per-event collection of the consumers holds."""

    async def go() -> int:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
        try:
            counts = [await client[name][c].count_documents({})
                      for name in DATABASES
                      for c in await client[name].list_collection_names()
                      if c.startswith(("rm_submissions", "scores", "unit_status"))]
            return max(counts, default=0)
        finally:
            await client.close()

    return asyncio.run(go())
