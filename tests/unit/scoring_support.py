"""What the scoring tests share: the period they score and a score as the store takes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.submissions.publish_registry import registry_events
from services.submissions.registry import load_registry

PERIOD = 2031
NOW = datetime(2031, 11, 25, 3, 0, tzinfo=UTC)
BASE = datetime(2031, 11, 1, tzinfo=UTC)
# Collections a recomputation may read with a filter without `_id`: its own markers
# (a handful), the candidates (small, see ScoreStore.candidates_of) and the registry
# replica (held in memory between changes).
ALLOWED_SCANS = {"rankings_pending", "certificate_candidates", "registry_clusters",
                 "registry_conferences"}


def a_score(unit: str, revision: int, total: float, *, on_time: bool = True, day: int = 1,
            seq: int = 0, period: int = PERIOD, mx: float = 100.0) -> dict[str, Any]:
    first = (BASE + timedelta(days=day)).isoformat()
    kind = unit.split(":", 1)[0]
    return {"unit_id": unit, "period": period, "unit_type": kind, "total": total, "max": mx,
            "breakdown": [{"criterion": "X", "points": total, "max_points": mx,
                           "explanation": "x"}],
            "rubric_version": f"{kind}-2026.1", "revision": revision,
            "submission_id": f"s-{unit}-{revision}", "on_time": on_time,
            "received_at": first, "first_received_at": first,
            "scored_at": first, "seq": seq or revision,
            "event_id": f"score:{unit}:{period}:r{revision}:{total}:{seq}"}


def published_years(cluster_id: str) -> dict[str, Any]:
    """The cluster's `years` as the registry publishes them on emulation.units.v1."""
    for key, event in registry_events(load_registry()):
        if key == cluster_id:
            return dict(event.data["years"])
    raise KeyError(cluster_id)


CLUSTER_4 = published_years("mps-cluster-4")
