"""The registry replica's in-process cache: a scan only when the replica changed (in
this process or, through the generation token, in another one sharing the database)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.common.registry_replica import RegistryReplica
from tests.fakes.mongo import FakeDatabase
from tests.unit.registry_events import cluster_event, unit_event


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_units_are_read_once_then_served_from_memory() -> None:
    async def go() -> None:
        db = FakeDatabase()
        replica = RegistryReplica(db)
        for uid in ("a", "b", "c"):
            await replica.apply(unit_event(uid, valid_from=2025))
        assert [u["_id"] for u in await replica.units(2026)] == ["a", "b", "c"]
        db.reset()
        for _ in range(5):
            assert [u["_id"] for u in await replica.units(2026)] == ["a", "b", "c"]
            await replica.clusters(2026)
        # the second collection is read once; everything else is the token, by _id
        assert db.scans() == [("registry_clusters", "find", {}),
                              ("registry_conferences", "find", {})]
        assert {c[0] for c in db.calls} == {"registry_meta", "registry_clusters",
                                            "registry_conferences"}

    run(go())


def test_an_apply_of_this_process_is_seen_at_once() -> None:
    async def go() -> None:
        db = FakeDatabase()
        replica = RegistryReplica(db)
        await replica.apply(unit_event("a"))
        assert [u["_id"] for u in await replica.units(2026)] == ["a"]
        await replica.apply(unit_event("b"))
        await replica.apply(unit_event("a", 2, valid_until=2025))
        assert [u["_id"] for u in await replica.units(2026)] == ["b"]

    run(go())


def test_an_apply_of_another_process_invalidates_through_the_token() -> None:
    async def go() -> None:
        db = FakeDatabase()
        reader, writer = RegistryReplica(db), RegistryReplica(db)
        await writer.apply(unit_event("a"))
        await writer.apply(cluster_event("c1", {"2026": {"members": ["a"]}}))
        assert [u["_id"] for u in await reader.units(2026)] == ["a"]
        assert (await reader.clusters(2026))["c1"]["members"] == ["a"]
        await writer.apply(unit_event("b"))
        await writer.apply(cluster_event("c1", {"2026": {"members": ["a", "b"]}}))
        assert [u["_id"] for u in await reader.units(2026)] == ["a", "b"]
        assert (await reader.clusters(2026))["c1"]["members"] == ["a", "b"]

    run(go())


def test_a_database_without_a_token_still_serves_and_then_follows_it() -> None:
    async def go() -> None:
        db = FakeDatabase()
        db["registry_units"].docs["old"] = {"_id": "old", "type": "province"}  # before tokens
        replica = RegistryReplica(db)
        assert [u["_id"] for u in await replica.units(2026)] == ["old"]
        await RegistryReplica(db).apply(unit_event("new"))
        assert [u["_id"] for u in await replica.units(2026)] == ["new", "old"]

    run(go())


def test_what_was_read_while_this_process_applied_is_not_kept() -> None:
    async def go() -> None:
        db = FakeDatabase()
        replica = RegistryReplica(db)
        await replica.apply(unit_event("a"))
        # a read and an apply interleave (each fake call yields to the loop)
        await asyncio.gather(replica.units(2026), replica.apply(unit_event("b")))
        assert [u["_id"] for u in await replica.units(2026)] == ["a", "b"]

    run(go())


def test_a_recorded_conference_is_next_years_leadership_for_every_reader() -> None:
    """Issue 14: the conference reviewing 2025 elects the 2026 head and deputy; that
    record, on the registry topic, is what every service's replica answers, and a year
    after it (no conference recorded yet) has no head rather than an inherited one."""
    from services.common.envelope import new_event
    from services.common.registry_replica import CONFERENCE_EVENT, conference_key

    async def go() -> None:
        db = FakeDatabase()
        replica = RegistryReplica(db)
        members = ["police:phu-tho", "police:bac-ninh", "police:quang-ninh"]
        await replica.apply(new_event(
            type="vn.emulation.registry.cluster", source="t", subject="mps-cluster-4",
            schema="cluster-registered", data={"cluster_id": "mps-cluster-4", "years": {
                "2025": {"members": members, "head": "police:phu-tho",
                         "deputy": "police:bac-ninh"}}}))
        assert (await replica.clusters(2026))["mps-cluster-4"].get("head") is None
        record = {"cluster_id": "mps-cluster-4", "period": 2025, "date": "2025-11-27",
                  "place": "Hạ Long", "head": "police:quang-ninh",
                  "deputy": "police:phu-tho", "proposals": [],
                  "recorded_by": "Operator One", "recorded_at": "2025-11-28T02:00:00+00:00"}
        key = conference_key("mps-cluster-4", 2025)
        await replica.apply(new_event(type=CONFERENCE_EVENT, source="t", subject=key,
                                      schema="conference-recorded", data=record))
        later = RegistryReplica(db)  # another process
        for r in (replica, later):
            c2026 = (await r.clusters(2026))["mps-cluster-4"]
            assert (c2026["head"], c2026["deputy"]) == ("police:quang-ninh", "police:phu-tho")
            assert c2026["conference"]["recorded_by"] == "Operator One"
            assert (await r.clusters(2025))["mps-cluster-4"]["head"] == "police:phu-tho"
            assert (await r.clusters(2027))["mps-cluster-4"].get("head") is None
            record_years = (await r.cluster_record("mps-cluster-4") or {})["years"]
            assert record_years["2026"]["members"] == members

    run(go())
