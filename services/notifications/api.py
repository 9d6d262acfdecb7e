"""HTTP entrypoints of the notifications service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from services.common.http import OperatorPrincipal
from services.notifications.service import Campaigns


class DeadlineRead(BaseModel):
    period: int
    deadline: datetime
    expected: int
    submitted: int
    on_time: int
    late: int
    missing: list[str]


def build_router(campaigns: Campaigns) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["deadlines"])

    @router.get("/deadlines/{period}", response_model=DeadlineRead)
    async def deadline(period: Annotated[int, Path(ge=2000, le=2100)], _: OperatorPrincipal
                       ) -> DeadlineRead:
        status = await campaigns.status(period)
        return DeadlineRead(**vars(status))

    return router
