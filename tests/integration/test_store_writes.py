"""One write by `_id` per event on the real MongoDB-wire server: `$min`/`$max` over
embedded documents keep reporting's first report and latest revision, and scoring's
newest revision and latest scoring, whatever the order of the events; a redelivery
changes nothing."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.reporting import projections
from services.reporting.store import ReadModel, flat_report
from services.scoring.store import ScoreStore
from tests.stackfixture import Stack
from tests.unit.reporting_samples import accepted

pytestmark = pytest.mark.integration
KEY = "police:phu-tho|2026"


def parts(revision: int) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    data = accepted("police:phu-tho", revision=revision,
                    received=f"2026-11-2{revision}T03:00:00+00:00", on_time=revision == 1)
    first, latest = projections.submission_parts(data)
    return KEY, {"unit_id": "police:phu-tho", "period": 2026}, first, latest


async def apply_in(url: str, db_name: str, order: list[int]) -> tuple[dict[str, Any], list[bool]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        await client.drop_database(db_name)
        changed = []
        for revision in order:
            # A fresh model per event: nothing remembered, every event reaches the server.
            model = ReadModel(client[db_name], watermark_seconds=0)
            changed.append(await model.apply_submission(*parts(revision)))
        doc = await client[db_name]["rm_submissions"].find_one({"_id": KEY})
        await client.drop_database(db_name)
        assert doc is not None
        return flat_report(doc), changed
    finally:
        await client.close()


def test_any_order_of_revisions_ends_in_the_same_document(stack: Stack) -> None:
    results = []
    for n, order in enumerate(itertools.permutations([1, 2, 3])):
        doc, changed = asyncio.run(apply_in(stack.cfg.mongo_url, f"test_rm_writes_{n}",
                                            [*order, order[0]]))
        assert changed[-1] is False  # the redelivery changed nothing
        assert changed[0] is True
        results.append(doc)
    first = results[0]
    assert (first["first_revision"], first["on_time"], first["revision"]) == (1, True, 3)
    assert first["first_received_at"].day == 21 and first["latest_received_at"].day == 23
    assert all(r == first for r in results)


async def scores_in(url: str, db_name: str, order: list[dict[str, Any]]
                    ) -> tuple[dict[str, Any], list[bool]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        await client.drop_database(db_name)
        store = ScoreStore(client[db_name])
        saved = [await store.save(dict(doc)) for doc in order]
        current = await store.current("police:a", 2031)
        await client.drop_database(db_name)
        assert current is not None
        return current, saved
    finally:
        await client.close()


def score(revision: int, total: float, rubric: str, seq: int) -> dict[str, Any]:
    return {"unit_id": "police:a", "period": 2031, "unit_type": "police", "total": total,
            "max": 100.0, "breakdown": [{"criterion": "P1", "points": total}],
            "rubric_version": rubric, "revision": revision, "submission_id": f"s-{revision}",
            "on_time": True, "scored_at": f"2031-11-1{revision}T00:00:00+00:00", "seq": seq,
            "event_id": f"score:police:a:2031:r{revision}:{rubric}:{total}"}


def test_the_score_in_force_is_the_newest_revision_and_latest_scoring_in_any_order(
        stack: Stack) -> None:
    versions = [score(1, 40, "police-2026.1", 1), score(2, 70, "police-2026.1", 2),
                score(2, 75, "police-2024.1", 3), score(3, 25, "police-2026.1", 4)]
    for n, order in enumerate(itertools.permutations(versions)):
        current, saved = asyncio.run(scores_in(stack.cfg.mongo_url, f"test_scores_{n}",
                                               [*order, order[-1]]))
        assert (current["revision"], current["total"]) == (3, 25), order
        # The last write repeats the one before: in force exactly when that one is.
        assert saved[-1] == (order[-1]["total"] == 25)
