"""Tracks who has reported, so reminders go only to units that have not."""

from __future__ import annotations

from services.common.envelope import Event
from services.common.registry_replica import RegistryReplica
from services.notifications.domain import DeadlineStatus, campaign_deadline, deadline_status
from services.notifications.store import StatusStore

ACCEPTED = "vn.emulation.submission.accepted"


class Campaigns:
    def __init__(self, *, store: StatusStore, replica: RegistryReplica) -> None:
        self.store, self.replica = store, replica

    async def on_submission(self, event: Event) -> None:
        if event.type == ACCEPTED:
            await self.store.record_submission(event.data)

    async def status(self, period: int) -> DeadlineStatus:
        expected = [u["_id"] for u in await self.replica.units(period)]
        return deadline_status(period, campaign_deadline(period), expected,
                               await self.store.submitted(period))
