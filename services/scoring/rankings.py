"""Cluster standings and recognition proposals: answered from the store and the registry
replica, and published on emulation.scores.v1 whenever a score changes them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from opentelemetry import trace

from services.common.clock import Clock
from services.common.registry_replica import RegistryReplica
from services.scoring.events import proposals_event, standings_event, wall_sequence
from services.scoring.publisher import Publisher
from services.scoring.register import LeadershipRegister
from services.scoring.standings import cluster_standings, rank_members, recognition_proposals
from services.scoring.store import ScoreStore

tracer = trace.get_tracer(__name__)


class Rankings:
    def __init__(self, *, store: ScoreStore, replica: RegistryReplica, publisher: Publisher,
                 clock: Clock, register: LeadershipRegister) -> None:
        self.store, self.replica, self.publisher = store, replica, publisher
        self.clock, self.register = clock, register
        # One publication at a time in this process, so standings computed earlier are
        # never published after standings computed later.
        self._lock = asyncio.Lock()

    async def _period(self, period: int) -> tuple[dict[str, Any], dict[str, Any]]:
        scores = {d["unit_id"]: d for d in await self.store.for_period(period)}
        return scores, await self.replica.clusters(period)

    async def standings(self, cluster_id: str, period: int) -> dict[str, Any] | None:
        scores, clusters = await self._period(period)
        cluster = clusters.get(cluster_id)
        if cluster is None:
            return None
        return cluster_standings(cluster_id, period, cluster["members"], scores,
                                 self.clock.now())

    async def proposals(self, period: int) -> dict[str, Any]:
        scores, clusters = await self._period(period)
        rows = {cid: rank_members(c["members"], scores) for cid, c in clusters.items()}
        return recognition_proposals(period, rows, scores, self.clock.now())

    async def after_scores(self, period: int, unit_ids: Iterable[str]) -> None:
        """Publish the standings of the clusters holding these units, next year's
        leadership suggestion for them, then the period's proposals: each only if its
        content changed since it was last published."""
        changed = set(unit_ids)
        async with self._lock:
            with tracer.start_as_current_span("scoring.publish_rankings",
                                              attributes={"emulation.period": period}):
                sequence = wall_sequence()
                scores, clusters = await self._period(period)
                now = self.clock.now()
                rows = {}
                for cid in sorted(clusters):
                    members = clusters[cid]["members"]
                    rows[cid] = rank_members(members, scores)
                    if not changed & set(members):
                        continue
                    data = {**cluster_standings(cid, period, members, scores, now),
                            "sequence": sequence}
                    basis = [scores[m]["event_id"] for m in members if m in scores]
                    await self.publisher.publish("standings", f"{cid}|{period}",
                                                 standings_event(data, basis), key=cid)
                    await self.register.publish_suggestion(cid, period + 1)
                data = {**recognition_proposals(period, rows, scores, now),
                        "sequence": sequence}
                basis = [scores[p["unit_id"]]["event_id"] for p in data["proposals"]]
                await self.publisher.publish("proposals", str(period),
                                             proposals_event(data, basis),
                                             key=f"period:{period}")
