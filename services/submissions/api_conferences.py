"""HTTP entrypoints for cluster conferences: an operator records what a conference
decided (services/submissions/conferences.py); every service shows that record."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from services.common.audit import Action
from services.common.contracts import ConferenceProposal, ConferenceRecorded
from services.common.http import OperatorAction, ViewerPrincipal
from services.common.kafka import KafkaUnavailable
from services.common.problems import Problem, problem_for
from services.submissions.conferences import (
    ConferenceRefused,
    Conferences,
    check_record,
    conference_record,
)
from services.submissions.service import Intake

ClusterId = Annotated[str, Path(pattern=r"^mps-cluster-[0-9]{1,4}$", max_length=20)]
ReviewedPeriod = Annotated[int, Path(ge=2000, le=2099, description="the year the "
                                     "conference reviewed; the head and deputy serve the next")]
R = TypeVar("R")  # an operator's record
UnitId = Annotated[str, Field(
    max_length=120, pattern=r"^police:[a-z0-9]+(-[a-z0-9]+)*$")]


class AgreedProposal(BaseModel):
    unit_id: UnitId
    award: Literal["government_emulation_flag", "mps_emulation_flag", "certificate_of_merit",
                   "other"] = Field(description="the form of recognition agreed")
    reason: str = Field(min_length=3, max_length=1000)


class ConferenceCreate(BaseModel):
    date: date
    place: str = Field(min_length=2, max_length=200)
    proposals: list[AgreedProposal] = Field(
        max_length=100, description="the units the conference agreed to propose")
    head: UnitId = Field(description="elected head of the cluster for the next year")
    deputy: UnitId | None = Field(description="elected deputy for the next year")


class ConferenceRead(ConferenceCreate):
    cluster_id: str
    period: int = Field(description="the year reviewed")
    serves: int = Field(description="the year the head and deputy serve")
    recorded_by: str
    recorded_at: str


def _read(record: ConferenceRecorded) -> ConferenceRead:
    return ConferenceRead.model_validate({**record, "serves": record["period"] + 1})


def author(action: Action) -> str:
    """Who recorded an operator's record: the account's name."""
    return action.principal.name or action.principal.unit_id or "operator"


async def store_and_publish(action: Action, before: R | None, write: Callable[[R], Awaitable[R]],
                            record: R, what: str) -> None:
    """An operator's record stored and published (`write`), in the audit trail; a
    failed publish is a 503 with the record stored (the same request publishes it)."""
    action.before = before
    try:
        await write(record)
    except KafkaUnavailable as exc:
        raise Problem(503, "unavailable", f"{exc}; the {what} is stored: send the same "
                      "request again to publish it", headers={"Retry-After": "5"}) from exc
    action.after = record


def build_conference_router(intake: Intake, conferences: Conferences) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["clusters"])

    @router.get("/clusters/{cluster_id}/conferences/{period}", response_model=ConferenceRead)
    async def get_conference(cluster_id: ClusterId, period: ReviewedPeriod,
                             _: ViewerPrincipal) -> ConferenceRead:
        """What the cluster's conference reviewing `period` decided, as recorded."""
        doc = await conferences.get(cluster_id, period)
        if doc is None:
            raise Problem(404, "not-found", f"no conference of {cluster_id} reviewing "
                          f"{period} is recorded")
        return _read(doc)

    @router.put("/clusters/{cluster_id}/conferences/{period}", response_model=ConferenceRead,
                responses={404: {"description": "no such cluster that year"},
                           422: {"description": "not members, or an impossible date"},
                           503: {"description": "recorded; publishing failed, retry"}})
    async def record_conference(cluster_id: ClusterId, period: ReviewedPeriod,
                                body: ConferenceCreate, action: OperatorAction
                                ) -> ConferenceRead:
        """Record what the cluster's conference decided: the proposals agreed and next
        year's head and deputy (operator, audited). Every service then shows this head
        and deputy; recording again replaces the record."""
        proposals: list[ConferenceProposal] = [
            {"unit_id": p.unit_id, "award": p.award, "reason": p.reason}
            for p in body.proposals]
        try:
            check_record(intake.registry, cluster_id, period, head=body.head,
                         deputy=body.deputy, proposals=proposals, held_on=body.date)
        except ConferenceRefused as exc:
            raise problem_for(exc) from exc
        record = conference_record(
            cluster_id, period, held_on=body.date, place=body.place, proposals=proposals,
            head=body.head, deputy=body.deputy, recorded_by=author(action),
            at=intake.clock.now(), reason=action.reason)
        await store_and_publish(action, await conferences.get(cluster_id, period),
                                conferences.record, record, "record")
        return _read(record)

    return router
