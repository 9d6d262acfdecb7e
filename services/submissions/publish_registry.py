"""Publishes the unit registry on the compacted `emulation.units.v1` topic, so the
other services keep their own copy. Republishing the same data is harmless."""

from __future__ import annotations

import asyncio
import hashlib
import json

from services.common import event_types
from services.common.contracts import ClusterRegistered, ClusterYear, UnitRegistered
from services.common.envelope import Event, new_event
from services.common.kafka import EventProducer
from services.common.topics import UNITS
from services.submissions.registry import Registry, load_registry
from services.submissions.settings import SubmissionsSettings

SOURCE = "urn:emulation:service:submissions"


def registry_events(registry: Registry) -> list[tuple[str, Event]]:
    periods = registry.periods()
    out = []
    for unit in registry.all_units():
        clusters = {str(p): cid for p in periods
                    if (cid := registry.cluster_of(unit.unit_id, p))}
        data = unit.to_dict(clusters)
        out.append((unit.unit_id, new_event(
            type=event_types.REGISTRY_UNIT, source=SOURCE, subject=unit.unit_id,
            schema="unit-registered", data=data, id=f"unit:{unit.unit_id}:{_digest(data)}")))
    cluster_ids = sorted({c.cluster_id for p in periods for c in registry.clusters(p)})
    for cid in cluster_ids:
        years: dict[str, ClusterYear] = {}
        name = cid
        for p in periods:
            c = registry.cluster(cid, p)
            if c is not None:
                name = c.name
                years[str(p)] = c.to_dict()
            elif years:
                # Said explicitly, so that copies do not inherit the earlier year's entry.
                years[str(p)] = {"members": [], "head": None, "deputy": None, "dissolved": True}
        cluster: ClusterRegistered = {"cluster_id": cid, "name": name, "years": years}
        out.append((cid, new_event(
            type=event_types.REGISTRY_CLUSTER, source=SOURCE, subject=cid,
            schema="cluster-registered", data=cluster, id=f"cluster:{cid}:{_digest(cluster)}")))
    return out


def _digest(data: UnitRegistered | ClusterRegistered) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


async def publish_registry(settings: SubmissionsSettings) -> int:
    producer = EventProducer(settings.kafka_bootstrap, "submissions-registry",
                             settings.produce_timeout_seconds, auth=settings.kafka_auth())
    try:
        events = registry_events(load_registry(settings.registry_dir))
        futures = [await producer.send_nowait(UNITS, ev, key=key) for key, ev in events]
        await asyncio.gather(*futures)
        return len(events)
    finally:
        await producer.stop()
