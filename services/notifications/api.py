"""HTTP entrypoints of the notifications service: thin, they call the service layer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from services.common import movements
from services.common.http import (
    AdminAction,
    CurrentPrincipal,
    OperatorAction,
    ViewerPrincipal,
    ensure_access,
)
from services.common.inputs import PlatformDateTime
from services.common.mongo import TRANSIENT_ERRORS
from services.common.movements import MovementQuery
from services.common.pagination import PAGED, Paging, next_link, page_of_items
from services.common.problems import Problem, problem_for
from services.notifications.campaigns import CampaignInvalid, campaign_spec
from services.notifications.domain import Campaign, DeadlineStatus, stage_time
from services.notifications.models import NotificationRow
from services.notifications.scheduler import PassReport, Scheduler
from services.notifications.service import Notifications

PeriodPath = Annotated[int, Path(ge=2000, le=2100, description="the year")]
PeriodQuery = Annotated[int | None, Query(ge=2000, le=2100, description="the year")]
UnitType = Literal["ministry", "province", "police", "front", "organization", "individual"]
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
UNIT_ID = r"^(ministry|province|front|organization|individual|police):[a-z0-9]+(-[a-z0-9]+)*$"


@pydantic_dataclass(frozen=True)
class DeadlineRead(DeadlineStatus):
    """One movement's units of the period against its deadline: the domain's status and
    the movement it is about."""

    movement: str


class NotificationRead(BaseModel):
    unit_id: str
    period: int
    stage: str
    channel: str
    recipient: str
    status: str
    sent_at: datetime | None = None
    kind: str = "reminder"
    provider: str | None = None
    detail: str | None = None
    attempts: int = 0
    not_before: datetime | None = None
    delivered_at: datetime | None = None
    message_id: str | None = None
    provider_ids: list[str] = Field(default=[], description="the provider's message ids")
    fallback: str | None = None
    units: list[str] = Field(default=[], description="a digest's overdue units")
    unknown_reason: str | None = Field(
        default=None, description="why an `unknown` reminder's outcome is unknown (it may or "
        "may not have gone out and is not resent): `provider` (no answer after the content "
        "was sent), `abandoned` (its worker stopped between claim and mark), `interrupted`")
    resolution: str | None = Field(
        default=None, description="how an unknown outcome was resolved: `message-id` (found "
        "in the SMTP relay's log: sent), `fallback` (escalated: sent again by the other "
        "channel), `no-fallback`, `reported`, `stage-past` (failed, see detail)")
    fallback_key: str | None = Field(
        default=None, description="escalated: the ledger key of the other channel's reminder")
    fallback_of: str | None = Field(
        default=None, description="this reminder was sent again by another channel because "
        "the outcome of this ledger key was unknown; see `note`")
    note: str | None = Field(
        default=None, description="for the unit: \"you may receive this twice\", in its "
        "language")


class StageWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    days: int = Field(ge=-366, le=366, description="after the deadline's day (negative: before)")
    hour: int = Field(ge=0, le=23)
    minute: int = Field(default=0, ge=0, le=59)
    escalate: bool | None = Field(default=None, description="default: overdue stages")


class StageRead(BaseModel):
    name: str
    days: int
    hour: int
    minute: int
    escalate: bool
    kind: str
    due_at: datetime


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = Field(pattern=HHMM, examples=["21:00"])
    end: str = Field(pattern=HHMM, examples=["07:00"])


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_ids: list[Annotated[str, Field(pattern=UNIT_ID, max_length=120)]] = Field(
        default=[], max_length=1000)
    unit_types: list[UnitType] = []


class Escalation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    national: list[Annotated[str, Field(pattern=UNIT_ID)]] = Field(
        default=["ministry:public-security", "ministry:home-affairs"], max_length=20)
    cluster_heads: bool = True
    supervisors: bool = True


class CampaignWrite(BaseModel):
    """Fields left out (or null) take the defaults
    (services/notifications/campaign_defaults.yaml); `quiet_hours: null` switches quiet
    hours off."""

    model_config = ConfigDict(extra="forbid")
    deadline: PlatformDateTime | None = Field(
        default=None, description="with its offset; a year from 2000 to 2100")
    timezone: str | None = Field(default=None, max_length=64)
    stages: list[StageWrite] | None = Field(default=None, min_length=1, max_length=50)
    channels: list[Literal["email", "sms"]] | None = Field(default=None, min_length=1)
    quiet_hours: QuietHours | None = None
    audience: Audience | None = None
    escalation: Escalation | None = None
    catch_up_hours: float | None = Field(default=None, gt=0, le=24 * 90)
    paused: bool | None = None


class MovementRunRead(BaseModel):
    movement: str
    deadline: datetime = Field(description="the movement's units' deadline (an operator's "
                               "setting on submissions, else the movement's default; "
                               "toan-dan: the campaign's)")
    current_stage: str | None
    stages: list[StageRead]


class CampaignRead(BaseModel):
    period: int
    deadline: datetime
    timezone: str
    stages: list[StageRead]
    channels: list[str]
    quiet_hours: QuietHours | None
    audience: Audience
    escalation: Escalation
    catch_up_hours: float
    paused: bool
    current_stage: str | None
    movements: list[MovementRunRead] = Field(
        default=[], description="the campaign as it runs for each movement's units: the "
        "same stages from that movement's deadline (`deadline` and `stages` above are "
        "toan-dan's)")


class CampaignPassRead(BaseModel):
    period: int
    movement: str = Field(description="the movement whose units this run reminded, from "
                          "that movement's deadline (each period's campaign runs for both)")
    stage: str | None
    due_at: datetime | None
    paused: bool
    units: int
    outcomes: dict[str, int]


class TickRead(BaseModel):
    trigger: str
    now: datetime
    partitions: list[int]
    campaigns: list[CampaignPassRead]
    abandoned: list[str]
    resolved: list[str] = Field(default=[], description="unknown outcomes resolved by the "
                                "pass: `<key>: <status> (<resolution>)`")
    breakers: dict[str, str]
    seconds: float


def stages_read(campaign: Campaign) -> list[StageRead]:
    return [StageRead(name=s.name, days=s.days, hour=s.hour, minute=s.minute,
                      escalate=s.escalate, kind=s.kind, due_at=stage_time(campaign, s))
            for s in campaign.stages]


async def campaign_read(service: Notifications, campaign: Campaign) -> CampaignRead:
    runs = [MovementRunRead(movement=run.movement, deadline=run.deadline,
                            current_stage=service.current(run), stages=stages_read(run))
            for run in await service.runs(campaign)]
    return CampaignRead(**{**campaign_spec(campaign), "stages": stages_read(campaign),
                           "current_stage": service.current(campaign), "movements": runs})


def tick_read(report: PassReport) -> TickRead:
    return TickRead(
        trigger=report.trigger, now=report.now, partitions=report.partitions,
        campaigns=[CampaignPassRead(period=c.period, movement=c.movement, stage=c.stage,
                                    due_at=c.due_at, paused=c.paused, units=c.units,
                                    outcomes=dict(c.outcomes))
                   for c in report.campaigns],
        abandoned=report.abandoned, resolved=report.resolved, breakers=report.breakers,
        seconds=report.seconds)


def notification_read(row: NotificationRow) -> NotificationRead:
    fields = {k: v for k, v in row.items() if k in NotificationRead.model_fields}
    tries = row.get("attempts")  # a wait has none
    return NotificationRead(**{**fields, "attempts": len(tries) if isinstance(tries, list) else 0})


def build_router(service: Notifications, scheduler: Scheduler) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/deadlines/{period}", response_model=DeadlineRead, tags=["deadlines"])
    async def deadline(period: PeriodPath, _: ViewerPrincipal,
                       movement: MovementQuery = movements.DEFAULT) -> DeadlineRead:
        """One movement's units of the period against its deadline (CONTRACT.md:
        `movement=` defaults to toan-dan)."""
        status = await service.status(period, movement)
        return DeadlineRead(**vars(status), movement=movement)

    @router.get("/notifications", response_model=list[NotificationRead],
                tags=["notifications"], responses=PAGED)
    async def notifications(principal: CurrentPrincipal, page: Paging, request: Request,
                            response: Response, period: PeriodQuery = None,
                            unit_id: Annotated[str | None, Query(
                                pattern=UNIT_ID, max_length=120)] = None,
                            ) -> list[NotificationRead]:
        """Reminders and digests of a unit (a unit's token: its own), or of a whole
        period (operator), with their state: sent, delivered, deferred, failed, ...
        (paged: the `Link` header)."""
        if not principal.is_operator:
            unit_id = unit_id or principal.unit_id
        if unit_id is not None:
            ensure_access(principal, unit_id)
        elif period is None:
            raise Problem(422, "invalid-request", "give unit_id or period",
                          errors=[{"field": "unit_id", "message": "unit_id or period needed"}])
        rows, after = await service.notifications(unit_id=unit_id, period=period, page=page)
        next_link(request, response, after, page.limit)
        return [notification_read(r) for r in rows]

    @router.get("/campaigns", response_model=list[CampaignRead], tags=["campaigns"],
                responses=PAGED)
    async def list_campaigns(_: ViewerPrincipal, page: Paging, request: Request,
                             response: Response) -> list[CampaignRead]:
        """The campaigns, by period (paged: the `Link` header)."""
        chosen, after = page_of_items(await service.all_campaigns(), lambda c: (c.period,),
                                      page)
        next_link(request, response, after, page.limit)
        return [await campaign_read(service, c) for c in chosen]

    @router.get("/campaigns/{period}", response_model=CampaignRead, tags=["campaigns"])
    async def read_campaign(period: PeriodPath, _: ViewerPrincipal) -> CampaignRead:
        campaign = await service.campaign(period)
        if campaign is None:
            raise Problem(404, "not-found", f"no campaign for {period} yet")
        return await campaign_read(service, campaign)

    @router.put("/campaigns/{period}", response_model=CampaignRead, tags=["campaigns"])
    async def put_campaign(period: PeriodPath, body: CampaignWrite, action: OperatorAction
                           ) -> CampaignRead:
        """Set the period's campaign: stages, deadline, quiet hours, channels, audience
        (operators may target a subset of units), escalation (operator, audited)."""
        earlier = await service.campaign(period)
        action.before = campaign_spec(earlier) if earlier is not None else None
        # A null field takes the default, like a missing one; only quiet_hours: null
        # means something else (no quiet hours).
        overrides = {k: v for k, v in body.model_dump(mode="json", exclude_unset=True).items()
                     if v is not None or k == "quiet_hours"}
        for stage in overrides.get("stages") or []:
            if stage.get("escalate") is None:
                stage.pop("escalate", None)
        try:
            campaign = await service.put_campaign(period, overrides)
        except CampaignInvalid as exc:
            raise problem_for(exc) from exc
        action.after = campaign_spec(campaign)
        return await campaign_read(service, campaign)

    @router.post("/campaigns/{period}/pause", response_model=CampaignRead, tags=["campaigns"])
    async def pause(period: PeriodPath, action: OperatorAction) -> CampaignRead:
        """Stop sending the period's reminders (what waits keeps waiting; audited)."""
        earlier = await service.campaign(period)
        action.before = {"paused": earlier.paused if earlier is not None else None}
        campaign = await service.set_paused(period, True)
        action.after = {"paused": campaign.paused}
        return await campaign_read(service, campaign)

    @router.post("/campaigns/{period}/resume", response_model=CampaignRead, tags=["campaigns"])
    async def resume(period: PeriodPath, action: OperatorAction) -> CampaignRead:
        """Send again: the current stage goes out at the next pass (catch-up rules;
        audited)."""
        earlier = await service.campaign(period)
        action.before = {"paused": earlier.paused if earlier is not None else None}
        campaign = await service.set_paused(period, False)
        action.after = {"paused": campaign.paused}
        return await campaign_read(service, campaign)

    @router.post("/admin/providers/reset", response_model=dict[str, str], tags=["ops"])
    async def reset_providers(action: AdminAction) -> dict[str, str]:
        """Close every provider's circuit breaker (after a provider was fixed); answers
        the breakers' states (admin, audited)."""
        action.before = scheduler.breaker_states()
        action.after = scheduler.reset_breakers()
        return dict(action.after)

    @router.post("/admin/tick", response_model=TickRead, tags=["ops"])
    async def tick(action: OperatorAction) -> TickRead:
        """Run one scheduling pass now, at the service's clock, and say what it did
        (operator, audited)."""
        try:
            report = tick_read(await scheduler.run_pass("tick"))
            action.after = {"campaigns": [c.model_dump(mode="json") for c in report.campaigns]}
            return report
        except TRANSIENT_ERRORS as exc:
            raise Problem(503, "unavailable", f"the database is unavailable: {exc!r}",
                          headers={"Retry-After": "5"}) from exc

    return router
