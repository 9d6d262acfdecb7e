"""Scoring's standings recomputation on the real database server (FerretDB here, where
only a filter with an `_id` equality uses an index and any other filter reads every
document of the collection): a flush after one score sends no filter without `_id` to
`scores` or `leadership`, and takes about as long with 20,000 unrelated scores of other
periods (and 2,000 leadership documents of other clusters) as without them (issue 12).

The service's objects run in this process on a database of their own, so that a pymongo
CommandListener sees every filter they send; the events go to an in-memory producer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.common.registry_replica import RegistryReplica
from services.scoring.change_publisher import ChangePublisher
from services.scoring.leadership_register import LeadershipRegister
from services.scoring.standings_publisher import StandingsPublisher
from services.scoring.store import LeadershipStore, ScoreStore
from tests.fakes.clock import FixedClock
from tests.fakes.kafka import FakeProducer
from tests.integration.reads_support import Filters, median_seconds
from tests.stackfixture import Stack
from tests.unit.scoring_support import ALLOWED_SCANS, NOW, PERIOD, a_score

pytestmark = pytest.mark.integration
DB = "test_scoring_reads"
CLUSTERS = {f"mps-cluster-{c}": [f"police:r{c}-m{m}" for m in range(6)] for c in range(1, 7)}
OUTSIDE = [f"ministry:r{n}" for n in range(10)] + [f"individual:r{n}" for n in range(10)]
PADDING = "x" * 900  # ~1 KB documents, as a score with its breakdown


async def fill(client: AsyncMongoClient[Any]) -> None:
    db = client[DB]
    for start in range(0, 20_000, 1_000):
        await db["scores"].insert_many([
            {"_id": f"province:other-{n}|{2000 + n % 25}", "unit_id": f"province:other-{n}",
             "period": 2000 + n % 25,
             "current": {**a_score(f"province:other-{n}", 1, 95.0, period=2000 + n % 25),
                         "explanation": PADDING}}
            for n in range(start, start + 1_000)])
    await db["leadership"].insert_many([
        {"_id": f"mps-cluster-{c}|{y}", "cluster_id": f"mps-cluster-{c}", "period": y,
         "status": "confirmed", "head": "police:x", "deputy": "police:y", "detail": PADDING}
        for c in range(100, 200) for y in range(2010, 2030)])


async def scenario(url: str) -> dict[str, Any]:
    listener = Filters()
    client: AsyncMongoClient[Any] = AsyncMongoClient(url, tz_aware=True,
                                                     event_listeners=[listener])
    await client.drop_database(DB)
    try:
        db = client[DB]
        await db["registry_clusters"].insert_many([
            {"_id": cid, "name": cid, "years": {"2025": {"members": members}}}
            for cid, members in CLUSTERS.items()])
        store = ScoreStore(db)
        replica = RegistryReplica(db)
        producer = FakeProducer()
        publisher = ChangePublisher(store=store, producer=producer)
        register = LeadershipRegister(store=LeadershipStore(db), replica=replica,
                                      publisher=publisher, clock=FixedClock(NOW))
        rankings = StandingsPublisher(store=store, replica=replica, publisher=publisher,
                                      clock=FixedClock(NOW), register=register,
                                      sweep_seconds=3600)
        units = [m for ms in CLUSTERS.values() for m in ms] + OUTSIDE
        for n, unit in enumerate(units):
            await store.save(a_score(unit, 1, 60.0 + n % 40, day=n % 20, seq=n + 1))
        await rankings.backfill()
        await rankings.after_scores(PERIOD, units)
        revision = 1

        async def one_score(_: int) -> None:
            """A member amends; the flush that follows is what is timed."""
            nonlocal revision
            revision += 1
            unit = units[revision % len(units)]
            await store.save(a_score(unit, revision, 50.0 + revision % 50, seq=10**6 + revision))
            await rankings.after_scores(PERIOD, [unit])

        out: dict[str, Any] = {}
        for label in ("empty", "full"):
            if label == "full":
                await fill(client)
            listener.seen.clear()
            out[f"flush_{label}"] = await median_seconds(one_score, 9)
            out[f"scans_{label}"] = listener.scans()
        out["kinds"] = sorted({e.type.rsplit(".", 1)[-1] for e in producer.events})
        return out
    finally:
        await client.drop_database(DB)
        await client.close()


def test_a_flush_reads_by_id_and_does_not_slow_down_with_other_periods(stack: Stack) -> None:
    out = asyncio.run(scenario(stack.cfg.mongo_url))
    assert out["kinds"] == ["leadership", "proposals", "standings"]
    for label in ("empty", "full"):
        scans = out[f"scans_{label}"]
        assert {c for c, _ in scans} <= ALLOWED_SCANS, scans
        assert not [s for s in scans if s[0] in ("scores", "leadership")], scans
    # A scan of the filled `scores` alone reads ~20 MB (~1 s); reads by _id do not grow.
    empty, full = out["flush_empty"], out["flush_full"]
    print(f"flush median: {empty * 1000:.1f} ms empty, {full * 1000:.1f} ms full")
    assert full < 2 * empty + 0.02, (empty, full)
