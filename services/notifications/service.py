"""Application logic outside the scheduling pass: who has reported (and what that
cancels), the campaigns operators manage, and the reminders a unit can read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.common import event_types, movements
from services.common.clock import Clock
from services.common.contracts import SubmissionAcceptedV1
from services.common.envelope import Event, data_of
from services.common.pagination import Key, PageRequest, page_of_items
from services.common.registry_replica import RegistryReplica
from services.notifications import metrics
from services.notifications.campaigns import (
    CampaignInvalid,
    build_campaign,
    campaign_spec,
    default_campaign,
    with_overrides,
)
from services.notifications.domain import (
    CHANNELS,
    EMAIL,
    Campaign,
    DeadlineStatus,
    current_stage,
    deadline_status,
    digest_stage,
    for_movement,
    ledger_key,
    movement_deadline,
    recipients,
    stage_time,
)
from services.notifications.models import DeferredRow, NotificationRow, StoredCampaign
from services.notifications.reminder_sender import Job, Sender
from services.notifications.store import CampaignStore, LedgerStore, StatusStore

log = logging.getLogger(__name__)
ACCEPTED = event_types.SUBMISSION_ACCEPTED


class UnknownCampaign(LookupError):
    """No campaign for that period."""


class Notifications:
    def __init__(self, *, store: StatusStore, replica: RegistryReplica,
                 campaigns: CampaignStore, ledger: LedgerStore, sender: Sender,
                 defaults: Mapping[str, Any], clock: Clock) -> None:
        self.store, self.replica, self.campaigns = store, replica, campaigns
        self.ledger, self.sender, self.defaults, self.clock = ledger, sender, defaults, clock

    # -- submissions -----------------------------------------------------------------------
    async def on_submission(self, event: Event) -> None:
        """Idempotent: record the report, then cancel whatever waits for that unit."""
        if event.type != ACCEPTED:
            return
        data = data_of(event, SubmissionAcceptedV1)  # v1 or v2: the fields read are in both
        await self.store.record_submission(data)
        unit_id, period = data["unit_id"], data["period"]
        try:
            campaign = await self.campaign(period)
        except CampaignInvalid:  # the report is recorded; the pass will not send anyway
            campaign = None
        if campaign is None:  # no pass handles a period without a (valid) campaign
            return
        # The waits a report can cancel have known keys (the campaign's stages times the
        # unit's addresses): read by `_id`, never by unit and period (a scan on FerretDB).
        # A wait for an address since removed from the registry is cancelled by the pass.
        unit = await self.replica.unit(unit_id) or {"_id": unit_id}
        waits = [w for w in await self.ledger.waits(_reminder_keys(unit, campaign))
                 if w.get("kind", "reminder") == "reminder"]
        for wait in waits:
            stage = campaign.stage(wait["stage"])
            if stage is None:
                await self.ledger.drop_deferral(wait["_id"])
                continue
            job = Job(key=wait["_id"], campaign=campaign, stage=stage, stage_name=stage.name,
                      unit=unit, channel=wait["channel"], recipient=wait["recipient"])
            await self.sender.close_wait(wait, job, "cancelled", "the unit has reported")
        if not waits:
            return
        log.info("pending reminders cancelled", extra={"fields": {
            "unit_id": unit_id, "period": period, "count": len(waits)}})

    async def status(self, period: int, movement: str | None = None) -> DeadlineStatus:
        """The period's units (of one movement, if given) against the deadline."""
        expected = [u["_id"] for u in await self.replica.units(period)
                    if movement is None or movements.movement_of(u["_id"]) == movement]
        deadline = await self.deadline(period, movement or movements.DEFAULT)
        return deadline_status(period, deadline, expected, await self.store.submitted(period))

    async def deadline(self, period: int, movement: str) -> datetime:
        """The movement's units' deadline, the one submissions judges their reports by:
        an operator's (registry replica), else `toan-dan`'s campaign deadline, else the
        movement's default."""
        setting = await self.replica.deadline(movement, period)
        campaign = await self.campaign(period) if movement == movements.DEFAULT else None
        return movement_deadline(period, movement, campaign, setting)

    async def publish_gauges(self) -> None:
        """Completeness per campaign period and movement, each against its own deadline,
        for the dashboards and the alert on low completeness before the deadline
        (campaign_units, campaign_deadline_...)."""
        for campaign in await self.all_campaigns():
            period = str(campaign.period)
            # The registry and who reported, read once for both movements.
            units = [u["_id"] for u in await self.replica.units(campaign.period)]
            submitted = await self.store.submitted(campaign.period)
            for run in await self.runs(campaign):
                movement = run.movement
                status = deadline_status(campaign.period, run.deadline, [
                    u for u in units if movements.movement_of(u) == movement], submitted)
                for state, value in (("expected", status.expected),
                                     ("submitted", status.submitted),
                                     ("on_time", status.on_time), ("late", status.late),
                                     ("missing", len(status.missing))):
                    metrics.CAMPAIGN_UNITS.labels(period, movement, state).set(value)
                metrics.CAMPAIGN_DEADLINE.labels(period, movement).set(
                    status.deadline.timestamp())

    # -- campaigns -------------------------------------------------------------------------
    async def campaign(self, period: int) -> Campaign | None:
        doc = await self.campaigns.get(period)
        return build_campaign(period, doc) if doc else None

    async def all_campaigns(self) -> list[Campaign]:
        return [build_campaign(int(d["period"]), d) for d in await self.campaigns.all()]

    async def put_campaign(self, period: int, overrides: Mapping[str, Any]) -> Campaign:
        """Replace the period's campaign by the defaults plus `overrides` (raises
        CampaignInvalid); an existing campaign keeps its paused flag unless given."""
        existing = await self.campaigns.get(period)
        fields = dict(overrides)
        if "paused" not in fields and existing is not None:
            fields["paused"] = bool(existing.get("paused"))
        campaign = with_overrides(period, self.defaults, fields)
        stored: StoredCampaign = {**campaign_spec(campaign), "source": "operator",
                                  "updated_at": self.clock.now()}
        await self.campaigns.put(stored)
        return campaign

    async def set_paused(self, period: int, paused: bool) -> Campaign:
        """Pause or resume; pausing a period without a campaign stores the default one."""
        if await self.campaigns.get(period) is None:
            await self.campaigns.create(default_campaign(period, self.defaults,
                                                         self.clock.now()))
        await self.campaigns.set_paused(period, paused, self.clock.now())
        campaign = await self.campaign(period)
        if campaign is None:
            raise UnknownCampaign(period)
        return campaign

    async def runs(self, campaign: Campaign) -> list[Campaign]:
        """The campaign as it runs for each movement's units, from their own deadline."""
        return [for_movement(campaign, m, await self.replica.deadline(m, campaign.period))
                for m in movements.IDS]

    def current(self, campaign: Campaign, now: datetime | None = None) -> str | None:
        due = current_stage(campaign, now or self.clock.now())
        return due.stage.name if due else None

    # -- what a unit received --------------------------------------------------------------
    async def notifications(self, *, unit_id: str | None, period: int | None,
                            page: PageRequest) -> tuple[list[NotificationRow], Key | None]:
        """A page of ledger entries and waits, in the campaign's order. For one unit they
        are looked up by their keys (the campaign's stages times the unit's addresses),
        which needs no collection scan."""
        if unit_id is None:
            assert period is not None
            rows: list[NotificationRow] = [*await self.ledger.of_period(period)]
            waits = [w for w in await self.ledger.pending() if w.get("period") == period]
        else:
            rows, waits = [], []
            periods = [period] if period else [c.period for c in await self.all_campaigns()]
            unit = await self.replica.unit(unit_id) or {"_id": unit_id}
            for p in periods:
                campaign = await self.campaign(p)
                if campaign is None:
                    continue
                keys = _keys_of(unit, campaign)
                found = await asyncio.gather(*(self.ledger.get(k) for k in keys))
                rows += [f for f in found if f is not None]
                waits += await self.ledger.waits(keys)
        have = {r["_id"] for r in rows}
        rows += [DeferredRow(**w, status="deferred") for w in waits
                 if w["_id"] not in have and w.get("reason") == "quiet-hours"]
        order = {}
        for c in await self.all_campaigns():
            for s in c.stages:
                order[(c.period, s.name)] = stage_time(c, s)
                for m in movements.IDS:
                    order[(c.period, digest_stage(s.name, m))] = stage_time(c, s)
        return page_of_items(rows, lambda r: (
            r["period"], str(order.get((r["period"], r["stage"]), "")), r["stage"],
            r["channel"], r["recipient"], r["_id"]), page)


def _reminder_keys(unit: Mapping[str, Any], campaign: Campaign) -> list[str]:
    """The ledger keys of every reminder of the campaign to the unit's addresses."""
    pairs = recipients(unit, CHANNELS)
    return [ledger_key(unit["_id"], campaign.period, stage.name, ch, r)
            for stage in campaign.stages for ch, r in pairs]


def _keys_of(unit: Mapping[str, Any], campaign: Campaign) -> list[str]:
    """Its reminders' keys, and those of the digests it may receive."""
    pairs = recipients(unit, CHANNELS)
    keys = _reminder_keys(unit, campaign)
    for stage in campaign.stages:
        if stage.escalate:
            keys += [ledger_key(unit["_id"], campaign.period, digest_stage(stage.name, m),
                                ch, r)
                     for m in movements.IDS for ch, r in pairs if ch == EMAIL]
    return keys
