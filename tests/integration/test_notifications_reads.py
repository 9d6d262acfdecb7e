"""The notifications hot paths on the real database server (FerretDB here, where only a
filter with an `_id` equality uses an index and any other filter reads every document
of the collection): a scheduling pass and a submission record issue no query that would
scan the ledger, the reports or the registry, and they take about as long with 20,000
unrelated ledger entries (and 5,000 reports of other periods) as without them.

The service's objects run in this process on a database of their own, so that a pymongo
CommandListener sees every filter they send."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from tests.integration.reads_support import Filters, median_seconds
from tests.stackfixture import Stack
from tests.unit.notifications_support import ALLOWED_SCANS, World, local

pytestmark = pytest.mark.integration
DB = "test_notifications_reads"
UNITS = [f"province:reads-{n:02d}" for n in range(40)]
PADDING = "x" * 900  # ~1 KB documents, as the ledger's


async def fill(client: AsyncMongoClient[Any]) -> None:
    db = client[DB]
    for start in range(0, 20_000, 1_000):
        await db["ledger"].insert_many([
            {"_id": f"2030|other:{n}|d-7|email|u{n}@example.vn", "unit_id": f"other:{n}",
             "period": 2030, "stage": "d-7", "channel": "email", "status": "sent",
             "detail": PADDING} for n in range(start, start + 1_000)])
    await db["unit_status"].insert_many([
        {"_id": f"other:{n}|2030", "unit_id": f"other:{n}", "period": 2030, "on_time": True,
         "detail": PADDING} for n in range(5_000)])


async def scenario(url: str) -> dict[str, Any]:
    listener = Filters()
    client: AsyncMongoClient[Any] = AsyncMongoClient(url, tz_aware=True,
                                                     event_listeners=[listener])
    await client.drop_database(DB)
    try:
        when = local(27, 10)  # d-3 is due
        world = World(when, client[DB], units=UNITS)
        await world.setup()
        for uid in UNITS[:10]:
            await world.service.on_submission(world.submission(uid))
        first = await world.scheduler.run_pass("test")
        sent = first.campaigns[0].outcomes["sent"]

        async def fresh_pass(_: int) -> None:
            # a new process: nothing cached, every key of the stage read from the ledger
            await World(when, client[DB], units=UNITS).scheduler.run_pass("test")

        async def warm_pass(_: int) -> None:
            await world.scheduler.run_pass("test")

        revision = 1

        async def record(_: int) -> None:  # an amendment of a unit that has reported
            nonlocal revision
            revision += 1
            await world.service.on_submission(world.submission(UNITS[revision % 10],
                                                                 revision))

        out: dict[str, Any] = {"sent": sent}
        for label in ("empty", "full"):
            if label == "full":
                await fill(client)
            listener.seen.clear()
            out[f"warm_{label}"] = await median_seconds(warm_pass, 7)
            out[f"record_{label}"] = await median_seconds(record, 9)
            out[f"scans_{label}"] = listener.scans()
            out[f"fresh_{label}"] = await median_seconds(fresh_pass, 5)
        return out
    finally:
        await client.drop_database(DB)
        await client.close()


def test_a_pass_and_a_record_read_by_id_and_do_not_slow_down_with_the_ledger(
        stack: Stack) -> None:
    out = asyncio.run(scenario(stack.cfg.mongo_url))
    assert out["sent"] == 60  # 30 units that had not reported, e-mail and SMS
    for label in ("empty", "full"):
        scans = {c for c, _ in out[f"scans_{label}"]}
        assert scans <= ALLOWED_SCANS, out[f"scans_{label}"]
    # A scan of the filled ledger alone reads ~20 MB (~1 s); reads by _id do not grow.
    for what in ("warm", "record", "fresh"):
        empty, full = out[f"{what}_empty"], out[f"{what}_full"]
        assert full < 2 * empty + 0.02, (what, empty, full, out)
