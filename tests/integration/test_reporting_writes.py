"""The read model's one-write-per-event submissions on the real MongoDB-wire server:
`$min`/`$max` over embedded documents keep the first report and the latest revision
whatever the order of the events, and a redelivery changes nothing."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.reporting import projections
from services.reporting.store import ReadModel, flat_report
from tests.stackfixture import Stack
from tests.unit.test_reporting_samples import accepted

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
