"""The dashboard's poll on the real database server (FerretDB here, where only a filter
with an `_id` equality uses an index and any other filter reads every document of the
collection): once the national synthesis of a period is computed, a poll reads three
documents by `_id` (the watermark, the period's version token, the registry's generation)
and sends no filter without `_id`, so it takes about as long with 20,000 unrelated
reports and 5,000 unrelated reminders (other periods) as with none; and a submission
applied is shown by the next poll.

The service's objects run in this process on a database of their own, so that a pymongo
CommandListener sees every filter they send."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.common.clock import Clock
from services.common.envelope import Event
from services.common.registry_replica import RegistryReplica
from services.reporting.service import Reports
from services.reporting.store import ReadModel
from tests.integration.reads_support import Filters
from tests.stackfixture import Stack
from tests.unit.registry_events import unit_event
from tests.unit.reporting_samples import PERIOD, accepted, score

pytestmark = pytest.mark.integration
DB = "test_reporting_reads"
UNITS = [f"province:reads-{n:02d}" for n in range(40)]
PADDING = "x" * 900  # ~1 KB documents, as the reports'
POLLS = 9


def submission(uid: str, n: int) -> Event:
    return Event(id=f"s-{uid}-{n}", type="vn.emulation.submission.accepted", source="test",
                 subject=uid, time=f"2026-11-20T03:00:{n % 60:02d}Z", dataschema="",
                 data=accepted(uid))


async def fill(client: AsyncMongoClient[Any]) -> None:
    db = client[DB]
    for start in range(0, 20_000, 1_000):
        await db["rm_submissions"].insert_many([
            {"_id": f"other:{n}|2030", "unit_id": f"other:{n}", "period": 2030,
             "first": {"first_revision": 1, "on_time": True},
             "latest": {"revision": 1, "detail": PADDING}}
            for n in range(start, start + 1_000)])
    await db["rm_reminders"].insert_many([
        {"_id": f"other:{n}|2030|d-7|email|u{n}@example.vn", "unit_id": f"other:{n}",
         "period": 2030, "status": "sent", "order": "x", "detail": PADDING}
        for n in range(5_000)])


async def median_poll(reports: Reports) -> float:
    took = []
    for _ in range(POLLS):
        started = time.perf_counter()
        await reports.dashboard(PERIOD)
        took.append(time.perf_counter() - started)
    return statistics.median(took)


async def scenario(url: str) -> dict[str, Any]:
    listener = Filters()
    client: AsyncMongoClient[Any] = AsyncMongoClient(url, tz_aware=True,
                                                     event_listeners=[listener])
    await client.drop_database(DB)
    try:
        db = client[DB]
        model, replica = ReadModel(db), RegistryReplica(db)
        reports = Reports(model=model, replica=replica, clock=Clock())
        for n, uid in enumerate(UNITS):
            await replica.apply(unit_event(uid, n, name=uid, valid_from=2020))
        for n, uid in enumerate(UNITS[:10]):
            await reports.on_submission(submission(uid, n))
            await model.apply_score(score(uid, 50.0 + n))
        out: dict[str, Any] = {"first": await reports.dashboard(PERIOD)}
        # A submission applied: the next poll shows it (the token changed).
        await reports.on_submission(submission(UNITS[10], 10))
        out["after"] = await reports.dashboard(PERIOD)
        for label in ("empty", "full"):
            if label == "full":
                await fill(client)
                await reports.dashboard(PERIOD)
            listener.seen.clear()
            out[f"poll_{label}"] = await median_poll(reports)
            out[f"scans_{label}"] = listener.scans()
        # After one more submission the warm process shows it too.
        await reports.on_submission(submission(UNITS[11], 11))
        out["later"] = await reports.dashboard(PERIOD)
        # For contrast: the same poll in a process that holds nothing (it reads by period).
        started = time.perf_counter()
        cold = Reports(model=ReadModel(db), replica=RegistryReplica(db), clock=Clock())
        out["cold_full_result"] = await cold.dashboard(PERIOD)
        out["cold_full"] = time.perf_counter() - started
        out["computed"] = reports.snapshots.computed
        return out
    finally:
        await client.drop_database(DB)
        await client.close()


def test_a_repeated_poll_reads_by_id_only_and_does_not_slow_down_with_other_periods(
        stack: Stack) -> None:
    out = asyncio.run(scenario(stack.cfg.mongo_url))
    assert out["first"]["submitted"] == 10 and out["first"]["expected"] == 40
    assert out["after"]["submitted"] == 11  # no stale data after a submission
    assert out["later"]["submitted"] == 12
    assert out["scans_empty"] == [] and out["scans_full"] == [], out
    # first, after, later: the 20,000 unrelated documents changed nothing it reads, and
    # the repeated polls computed nothing
    assert out["computed"] == 3, out
    # What the warm process serves is what a process holding nothing computes.
    differ = ("as_of", "statement", "last_event_at")
    assert {k: v for k, v in out["cold_full_result"].items() if k not in differ} == {
        k: v for k, v in out["later"].items() if k not in differ}
    empty, full = out["poll_empty"], out["poll_full"]
    print(f"median poll: {empty * 1000:.1f} ms empty, {full * 1000:.1f} ms with 25,000 "
          f"unrelated documents; a process holding nothing: {out['cold_full'] * 1000:.0f} ms")
    assert full < 2 * empty + 0.02, (empty, full, out["cold_full"])
