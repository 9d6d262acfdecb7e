"""Registry events as the replicas take them (a unit, a cluster's years)."""

from __future__ import annotations

from typing import Any

from services.common.envelope import Event
from services.common.registry_replica import CLUSTER_EVENT, UNIT_EVENT


def unit_event(unit_id: str, n: int = 1, **data: Any) -> Event:
    return Event(id=f"u-{unit_id}-{n}", type=UNIT_EVENT, source="test", subject=unit_id,
                 time="2026-01-01T00:00:00Z", dataschema="", data={"type": "province", **data})


def cluster_event(cluster_id: str, years: dict[str, Any]) -> Event:
    return Event(id=f"c-{cluster_id}", type=CLUSTER_EVENT, source="test", subject=cluster_id,
                 time="2026-01-01T00:00:00Z", dataschema="",
                 data={"name": cluster_id, "years": years})
