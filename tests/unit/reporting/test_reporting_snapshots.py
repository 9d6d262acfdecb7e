"""The national synthesis is kept per period in each process while the read model's
version token of the period and the registry's generation are unchanged: a dashboard
poll then reads two documents by `_id` and nothing else; any write the synthesis reads
changes the token, so the next poll computes again and shows it; concurrent polls share
one computation. On the in-memory database of tests/fakes/mongo.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.envelope import Event
from services.common.registry_replica import RegistryReplica
from services.reporting import projections
from services.reporting.service import Reports
from services.reporting.snapshots import Snapshots
from services.reporting.store import ReadModel
from tests.fakes.clock import FixedClock
from tests.fakes.mongo import Call, FakeDatabase
from tests.unit.registry_events import cluster_event, unit_event
from tests.unit.reporting_samples import PERIOD, accepted, score

UNITS = ["province:ha-noi", "province:hue", "police:phu-tho", "police:bac-ninh"]
POLICE = "vi-an-ninh"


def event(type_: str, data: dict[str, Any], n: int = 1) -> Event:
    return Event(id=f"e-{n}", type=type_, source="test", subject=str(data.get("unit_id")),
                 time=f"2026-11-2{n % 10}T03:00:00Z", dataschema="", data=data)


class World:
    def __init__(self, db: FakeDatabase | None = None) -> None:
        self.db = db or FakeDatabase()
        self.clock = FixedClock(datetime(2026, 11, 25, 3, 0, tzinfo=UTC))
        self.model = ReadModel(self.db, watermark_seconds=0.0)
        self.replica = RegistryReplica(self.db)
        self.reports = Reports(model=self.model, replica=self.replica, clock=self.clock)

    async def setup(self) -> None:
        for n, uid in enumerate(UNITS):
            await self.replica.apply(unit_event(uid, n, type=uid.split(":")[0],
                                                name=uid, valid_from=2020))

    async def submit(self, uid: str, revision: int = 1) -> None:
        await self.reports.on_submission(event("vn.emulation.submission.accepted",
                                               accepted(uid, revision=revision), revision))

    def reads(self) -> list[Call]:
        out = list(self.db.calls)
        self.db.reset()
        return out


def scans(calls: list[Call]) -> list[Any]:
    return [c for c in calls if "_id" not in c[2]]


# -- the cache itself ----------------------------------------------------------------


def test_an_unchanged_key_serves_what_was_computed_a_changed_one_computes_again() -> None:
    snapshots: Snapshots[int] = Snapshots()
    key: list[Any] = ["t1", "g1"]
    computed = 0

    async def compute() -> int:
        nonlocal computed
        computed += 1
        return computed

    async def current() -> tuple[Any, ...]:
        return tuple(key)

    async def run() -> None:
        assert await snapshots.get(2026, current, compute) == 1
        assert await snapshots.get(2026, current, compute) == 1
        assert await snapshots.get(2026, current, compute) == 1
        key[0] = "t2"  # the period's version changed
        assert await snapshots.get(2026, current, compute) == 2
        key[1] = "g2"  # the registry changed
        assert await snapshots.get(2026, current, compute) == 3
        assert await snapshots.get(2026, current, compute) == 3
        assert await snapshots.get(2027, current, compute) == 4  # another period: its own

    asyncio.run(run())
    assert snapshots.computed == 4


def test_concurrent_requests_share_one_computation() -> None:
    snapshots: Snapshots[str] = Snapshots()
    started = 0

    async def compute() -> str:
        nonlocal started
        started += 1
        await asyncio.sleep(0.01)
        return "report"

    async def current() -> tuple[Any, ...]:
        await asyncio.sleep(0)
        return ("t1", "g1")

    async def run() -> list[str]:
        return list(await asyncio.gather(*(snapshots.get(2026, current, compute)
                                           for _ in range(20))))

    assert asyncio.run(run()) == ["report"] * 20
    assert started == 1 and snapshots.computed == 1


def test_a_failed_computation_is_not_kept() -> None:
    snapshots: Snapshots[int] = Snapshots()
    attempts = 0

    async def compute() -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("database away")
        return attempts

    async def current() -> tuple[Any, ...]:
        return ("t1",)

    async def run() -> None:
        with pytest.raises(ConnectionError):
            await snapshots.get(2026, current, compute)
        assert await snapshots.get(2026, current, compute) == 2

    asyncio.run(run())


# -- the version token ---------------------------------------------------------------


def test_every_write_the_synthesis_reads_changes_the_token_a_known_redelivery_does_not(
        ) -> None:
    world = World()

    async def run() -> None:
        rm = world.model
        first = await rm.version(PERIOD)  # none yet: created
        assert await rm.version(PERIOD) == first
        await world.submit("province:ha-noi")
        after_submission = await rm.version(PERIOD)
        assert after_submission != first
        await world.submit("province:ha-noi")  # known in this process: nothing sent
        assert await rm.version(PERIOD) == after_submission
        assert await rm.version(PERIOD + 1) != after_submission  # each period its own
        await rm.apply_score(score("province:ha-noi", 70.0))
        after_score = await rm.version(PERIOD)
        assert after_score != after_submission
        await rm.apply_reminder(projections.reminder_doc(
            "vn.emulation.notification.sent", "2026-11-23T01:00:05Z",
            {"unit_id": "province:hue", "period": PERIOD, "stage": "d-7", "channel": "sms",
             "recipient": "+84990000201", "status": "sent",
             "sent_at": "2026-11-23T01:00:04Z"}))
        after_reminder = await rm.version(PERIOD)
        assert after_reminder != after_score
        await rm.apply_proposals(projections.proposals_doc(
            {"period": PERIOD, "proposals": [], "sequence": 5}))
        assert await rm.version(PERIOD) != after_reminder
        # A process that does not know the document sends the write again: it counts.
        other = ReadModel(world.db, watermark_seconds=0.0)
        before = await rm.version(PERIOD)
        await other.apply_submission(*_parts("province:ha-noi"))
        assert await rm.version(PERIOD) != before

    asyncio.run(run())


def _parts(uid: str) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    first, latest = projections.submission_parts(accepted(uid))
    return (projections.unit_key(uid, PERIOD), {"unit_id": uid, "period": PERIOD},
            first, latest)


def test_a_token_write_that_failed_is_made_by_the_events_retry() -> None:
    world = World()
    meta = world.db["rm_meta"]
    failures = 1

    def flaky(op: str, flt: dict[str, Any]) -> None:
        nonlocal failures
        if op == "replace_one" and flt["_id"].startswith("version|") and failures:
            failures -= 1
            raise ConnectionError("database away")

    async def run() -> None:
        before = await world.model.version(PERIOD)
        meta.before = flaky
        with pytest.raises(ConnectionError):
            await world.submit("province:hue")
        assert await world.model.version(PERIOD) == before  # the data is written, not yet the token
        await world.submit("province:hue")  # the retry: the data is known, the token is due
        assert await world.model.version(PERIOD) != before

    asyncio.run(run())


# -- the dashboard and the report -----------------------------------------------------


def test_a_repeated_poll_reads_two_documents_by_id_and_computes_nothing() -> None:
    world = World()

    async def run() -> None:
        await world.setup()
        await world.submit("province:ha-noi")
        world.reads()
        first = await world.reports.dashboard(PERIOD)
        # toan-dan (the default): the two provinces, not the police
        assert first["submitted"] == 1 and first["expected"] == 2
        assert scans(world.reads())  # the first poll computes: it reads by period
        for _ in range(3):
            again = await world.reports.dashboard(PERIOD)
            calls = world.reads()
            assert scans(calls) == []
            assert [(c, op) for c, op, _ in calls] == [
                ("rm_meta", "find_one"), ("rm_meta", "find_one"),
                ("registry_meta", "find_one")]  # watermark, version, registry generation
            assert again == first
        assert world.reports.snapshots.computed == 1

    asyncio.run(run())


def test_after_a_submission_is_applied_the_next_poll_shows_it() -> None:
    world = World()

    async def run() -> None:
        await world.setup()
        assert (await world.reports.dashboard(PERIOD, POLICE))["submitted"] == 0
        await world.submit("police:phu-tho")
        shown = await world.reports.dashboard(PERIOD, POLICE)
        assert shown["submitted"] == 1
        assert "police:phu-tho" not in [m["unit_id"] for m in shown["missing_units"]]
        assert (await world.reports.dashboard(PERIOD))["submitted"] == 0  # not in toan-dan
        await world.replica.apply(unit_event("province:new", 9, type="province",
                                             name="new", valid_from=2020))
        assert (await world.reports.dashboard(PERIOD))["expected"] == 3
        # Another process sharing the database applies an event: the token tells.
        other = World(world.db)
        await other.submit("police:bac-ninh")
        assert (await world.reports.dashboard(PERIOD, POLICE))["submitted"] == 2

    asyncio.run(run())


def test_the_kept_report_is_the_one_computed_now_but_for_its_time() -> None:
    world = World()

    async def run() -> None:
        await world.setup()
        await world.submit("province:ha-noi")
        await world.model.apply_score(score("province:ha-noi", 70.0))
        await world.reports.national(PERIOD)
        world.clock.when = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
        kept = await world.reports.national(PERIOD)
        fresh = await World(world.db).reports.national(PERIOD)  # a process holding nothing
        assert world.reports.snapshots.computed == 1
        assert kept["as_of"] == "2026-11-26T03:00:00+00:00"
        assert kept == {**fresh, "as_of": kept["as_of"], "statement": kept["statement"]}
        assert list(kept) == list(fresh)  # the same fields in the same order
        assert kept["as_of"] in kept["statement"]

    asyncio.run(run())


def test_a_cluster_report_reads_what_is_held_and_its_own_documents_by_id() -> None:
    world = World()

    async def run() -> None:
        for n, uid in enumerate(UNITS):
            await world.replica.apply(unit_event(uid, n, type=uid.split(":")[0], name=uid,
                                                 clusters={"2026": "mps-cluster-1"}))
        await world.replica.apply(cluster_event("mps-cluster-1", {
            "2026": {"members": UNITS, "head": UNITS[0], "deputy": UNITS[1]}}))
        await world.submit("province:ha-noi")
        await world.model.apply_score(score("province:ha-noi", 70.0))
        await world.reports.dashboard(PERIOD)
        world.reads()
        kept = await world.reports.cluster("mps-cluster-1", PERIOD)
        assert scans(world.reads()) == []
        assert world.reports.snapshots.computed == 1
        fresh = await World(world.db).reports.cluster("mps-cluster-1", PERIOD)
        assert {**kept, "as_of": None, "statement": None} == {
            **fresh, "as_of": None, "statement": None}
        assert kept["submitted"] == 1 and len(kept["members"]) == len(UNITS)
        await world.submit("police:phu-tho")  # the next report shows it
        assert (await world.reports.cluster("mps-cluster-1", PERIOD))["submitted"] == 2

    asyncio.run(run())
