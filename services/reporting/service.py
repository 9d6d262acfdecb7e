"""Applies events to the read model and assembles the reports."""

from __future__ import annotations

from typing import Any

from services.common.clock import Clock
from services.common.envelope import Event
from services.common.registry_replica import RegistryReplica
from services.reporting.domain import national_report
from services.reporting.store import ReadModel

ACCEPTED = "vn.emulation.submission.accepted"
SCORED = "vn.emulation.score.computed"


class Reports:
    def __init__(self, *, model: ReadModel, replica: RegistryReplica, clock: Clock) -> None:
        self.model, self.replica, self.clock = model, replica, clock

    async def on_submission(self, event: Event) -> None:
        if event.type == ACCEPTED:
            await self.model.apply_submission(event.data)

    async def on_score(self, event: Event) -> None:
        if event.type == SCORED:
            await self.model.apply_score(event.data)

    async def national(self, period: int) -> dict[str, Any]:
        return national_report(
            period=period, as_of=self.clock.now(), units=await self.replica.units(period),
            clusters=await self.replica.clusters(period),
            reports=await self.model.reports_for(period),
            scores=await self.model.scores_for(period))
