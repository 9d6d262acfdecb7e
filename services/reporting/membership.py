"""Which units each emulation cluster holds in a period, from the registry replica.

The units' own `clusters` map (cluster id by year, computed by the registry, which knows
about dissolved clusters and merged units) is the authority: a unit is counted in the one
cluster the registry put it in that year, whatever a cluster's entry inherits. The
clusters' entries give the name, head, deputy and member order."""

from __future__ import annotations

from services.common.registry_replica import ReplicaCluster, year_entry
from services.reporting.models import Clusters, RegistryUnit


def clusters_for_period(period: int, units: list[RegistryUnit],
                        raw_clusters: list[ReplicaCluster]) -> Clusters:
    """cluster id -> {name, members, head, deputy} for the units active in `period`.

    The registry's last year carries on into later years (as the registry does)."""
    by_id = {c["_id"]: c for c in raw_clusters}
    years = {int(y) for u in units for y in (u.get("clusters") or {})}
    if not years:  # a registry copy without the units' maps: trust the clusters' entries
        return {cid: {"name": c.get("name", cid),
                      "members": list(entry.get("members", [])),
                      "head": entry.get("head"), "deputy": entry.get("deputy")}
                for cid, c in by_id.items() if (entry := year_entry(c, period)) is not None}
    known = [y for y in years if y <= period]
    if not known:
        return {}
    year = str(max(known))
    members: dict[str, list[str]] = {}
    for u in units:
        cid = (u.get("clusters") or {}).get(year)
        if cid:
            members.setdefault(cid, []).append(u["_id"])
    out: Clusters = {}
    for cid, ids in members.items():
        raw = by_id.get(cid)
        entry = year_entry(raw, period) if raw else None
        listed = [m for m in (entry["members"] if entry else []) if m in ids]
        out[cid] = {"name": raw.get("name", cid) if raw else cid,
                    "members": listed + sorted(set(ids) - set(listed)),
                    "head": entry.get("head") if entry else None,
                    "deputy": entry.get("deputy") if entry else None}
    return out
