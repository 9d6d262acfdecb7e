"""HTTP entrypoints for the units' deadline of a movement and period: each movement has a
labelled default; an operator may set another for one period
(services/submissions/deadlines.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from services.common.http import CurrentPrincipal, OperatorAction
from services.common.inputs import PlatformDateTime
from services.common.movements import MovementId
from services.common.problems import problem_for
from services.submissions.api_conferences import author, store_and_publish
from services.submissions.deadlines import (
    DeadlineRefused,
    Deadlines,
    deadline_record,
    describe,
)
from services.submissions.service import Intake

DeadlinePeriod = Annotated[int, Path(ge=2000, le=2099, description="the year")]


class DeadlineWrite(BaseModel):
    deadline: PlatformDateTime = Field(
        description="the units' deadline of the movement's period, with its offset; it "
                    "applies to the reports that arrive after the change")


class DeadlineSetting(BaseModel):
    movement: str
    period: int
    deadline: datetime
    source: str = Field(description="`default` (the platform's labelled default) or "
                                    "`operator`")
    basis: str | None = Field(default=None, description="why the default is what it is")
    set_by: str | None
    set_at: str | None
    reason: str | None


def build_deadline_router(intake: Intake, deadlines: Deadlines) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["deadlines"])

    @router.get("/movements/{movement}/deadlines/{period}", response_model=DeadlineSetting)
    async def get_deadline(movement: MovementId, period: DeadlinePeriod,
                           _: CurrentPrincipal) -> DeadlineSetting:
        """The units' deadline of the movement's period: an operator's, or the default."""
        return DeadlineSetting.model_validate(
            describe(period, movement, await deadlines.get(period, movement)))

    @router.put("/movements/{movement}/deadlines/{period}", response_model=DeadlineSetting,
                responses={422: {"description": "not in the period's year"},
                           503: {"description": "stored; publishing failed, retry"}})
    async def set_deadline(movement: MovementId, period: DeadlinePeriod, body: DeadlineWrite,
                           action: OperatorAction) -> DeadlineSetting:
        """Set the units' deadline of the movement's period (operator, audited). Receipts
        already given keep the deadline they were judged by."""
        try:
            record = deadline_record(movement, period, body.deadline, set_by=author(action),
                                     at=intake.clock.now(), reason=action.reason)
        except DeadlineRefused as exc:
            raise problem_for(exc) from exc
        await store_and_publish(action, await deadlines.get(period, movement),
                                deadlines.set, record, "deadline")
        return DeadlineSetting.model_validate(describe(period, movement, record))

    return router
