"""HTTP entrypoints of the scoring service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.common.http import CurrentPrincipal, ensure_access
from services.common.problems import Problem
from services.scoring.store import ScoreStore

Period = Annotated[int, Query(ge=2000, le=2100, description="the year")]


class LineRead(BaseModel):
    criterion: str
    points: float
    max_points: float
    explanation: str


class ScoreRead(BaseModel):
    unit_id: str
    period: int
    total: float
    max: float
    breakdown: list[LineRead]
    rubric_version: str
    submission_id: str
    revision: int
    on_time: bool


def build_router(store: ScoreStore) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["scores"])

    @router.get("/scores/{unit_id}", response_model=ScoreRead)
    async def read_score(unit_id: str, period: Period, principal: CurrentPrincipal
                         ) -> ScoreRead:
        ensure_access(principal, unit_id)
        doc = await store.current(unit_id, period)
        if doc is None:
            raise Problem(404, "not-found", f"no score for {unit_id} in {period}")
        return ScoreRead(**doc)

    return router
