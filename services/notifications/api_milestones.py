"""HTTP entrypoints of the synthesis milestone (milestone.py): read it, move it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from services.common.http import OperatorAction, ViewerPrincipal
from services.notifications.milestone import Milestones

PeriodPath = Annotated[int, Path(ge=2000, le=2100, description="the year")]
Address = Annotated[str, Field(max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")]


class MilestoneUpdate(BaseModel):
    state: Literal["drafted", "sent"] | None = Field(
        default=None, description="drafted, or sent to the Prime Minister")
    due: datetime | None = Field(default=None, description="replaces the default due date")
    recipients: list[Address] | None = Field(
        default=None, max_length=50, description="the operators' e-mail addresses")


def build_milestone_router(milestones: Milestones) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["milestones"])

    @router.get("/milestones/{period}")
    async def get_milestone(period: PeriodPath, _: ViewerPrincipal) -> dict[str, Any]:
        """The synthesis for the Prime Minister of the period: due date (and whose),
        state, who drafted and sent it, whether it is at risk, reminders sent."""
        return {**milestones.view(await milestones.get(period))}

    @router.put("/milestones/{period}")
    async def put_milestone(period: PeriodPath, body: MilestoneUpdate,
                            action: OperatorAction) -> dict[str, Any]:
        """Mark it drafted or sent, or set its due date or recipients (operator,
        audited); who did it is recorded."""
        action.before = milestones.view(await milestones.get(period))
        who = action.principal.name or action.principal.unit_id or "operator"
        doc = await milestones.update(period, by=who, state=body.state, due=body.due,
                                      recipients=body.recipients)
        action.after = view = milestones.view(doc)
        return {**view}

    return router
