"""A service's own copy of the compacted `emulation.units.v1` topic, in its own database.

The topic is the contract; this mirrors it and answers the two questions every
consumer asks: which units exist in a period, and which cluster holds which units."""

from __future__ import annotations

from typing import Any

import mongoengine as me
from pymongo.asynchronous.database import AsyncDatabase

from services.common.envelope import Event

UNIT_EVENT = "vn.emulation.registry.unit"
CLUSTER_EVENT = "vn.emulation.registry.cluster"


class RegistryUnitDoc(me.Document):
    meta = {"collection": "registry_units", "strict": False}
    id = me.StringField(primary_key=True)


class RegistryClusterDoc(me.Document):
    meta = {"collection": "registry_clusters", "strict": False}
    id = me.StringField(primary_key=True)


REPLICA_DOCUMENTS = [RegistryUnitDoc, RegistryClusterDoc]


def active_in(unit: dict[str, Any], period: int) -> bool:
    start, end = unit.get("valid_from"), unit.get("valid_until")
    return (start is None or start <= period) and (end is None or end >= period)


def year_entry(cluster: dict[str, Any], period: int) -> dict[str, Any] | None:
    """A year with no entry of its own inherits the latest earlier year's; a cluster
    dissolved in a year has no entry from then on."""
    years = [int(y) for y in cluster.get("years", {}) if int(y) <= period]
    entry = cluster["years"][str(max(years))] if years else None
    return None if entry is None or entry.get("dissolved") else entry


class RegistryReplica:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.units_coll = db["registry_units"]
        self.clusters_coll = db["registry_clusters"]

    async def apply(self, event: Event) -> None:
        """Idempotent: the latest record of a key replaces the earlier one."""
        if event.type == UNIT_EVENT:
            await self.units_coll.replace_one(
                {"_id": event.subject}, {**event.data, "event_id": event.id}, upsert=True)
        elif event.type == CLUSTER_EVENT:
            await self.clusters_coll.replace_one(
                {"_id": event.subject}, {**event.data, "event_id": event.id}, upsert=True)

    async def all_units(self) -> list[dict[str, Any]]:
        return await self.units_coll.find({}).to_list(None)

    async def units(self, period: int) -> list[dict[str, Any]]:
        return sorted((u for u in await self.all_units() if active_in(u, period)),
                      key=lambda u: u["_id"])

    async def unit(self, unit_id: str) -> dict[str, Any] | None:
        return await self.units_coll.find_one({"_id": unit_id})

    async def clusters(self, period: int) -> dict[str, dict[str, Any]]:
        """cluster id -> {name, members, head, deputy} in force for the period."""
        out = {}
        for c in await self.clusters_coll.find({}).to_list(None):
            entry = year_entry(c, period)
            if entry is not None:
                out[c["_id"]] = {"name": c.get("name", c["_id"]), **entry}
        return out
