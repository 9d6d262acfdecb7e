"""HTTP entrypoints of the scoring service: scores, rubrics and the operator's rescore."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from services.common import movements
from services.common.http import AdminAction, CurrentPrincipal, Period, ensure_access
from services.common.job_actions import start_job
from services.common.jobs import Job, JobFailure, JobRead, Jobs
from services.common.kafka import KafkaUnavailable
from services.common.pagination import PAGED, Paging, next_link, page_of_items
from services.common.problems import Problem, problem_for
from services.scoring.domain import (
    Bonus,
    ContentsRule,
    Criterion,
    Deductions,
    RescoreRefused,
    Rubric,
    Source,
    rescore_running,
)
from services.scoring.models import ScoreRecord
from services.scoring.rescore import Rescorer, RescoreSummary
from services.scoring.rubrics import RubricBook
from services.scoring.service import Scorer
from services.scoring.store import ScoreStore

VERSION_PATTERN = r"^[a-z]+-[0-9]{4}\.[0-9]+$"


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
    scored_at: datetime | None = None
    first_received_at: datetime | None = None
    current: bool = Field(description="whether this is the score in force")
    movement: str = Field(description="the movement the score belongs to (its unit's)")


class RubricRead(BaseModel):
    version: str
    unit_type: str
    from_period: int
    title: str
    description: str
    max_total: float
    criteria: list[Criterion]
    contents: ContentsRule
    bonus: Bonus
    deductions: Deductions
    # parameter path -> where its number comes from (docs/sources.md)
    sources: dict[str, Source] = {}

    @classmethod
    def of(cls, rubric: Rubric) -> RubricRead:
        return cls.model_validate(rubric, from_attributes=True)


class RescoreCreate(BaseModel):
    period: int = Field(ge=2000, le=2100)
    rubric_version: str = Field(max_length=60, pattern=VERSION_PATTERN,
                                examples=["police-2026.1"])


def _score(doc: ScoreRecord, current: ScoreRecord | None) -> ScoreRead:
    in_force = current is not None and current.get("event_id") == doc.get("event_id")
    fields = {k: v for k, v in doc.items() if k in ScoreRead.model_fields}
    fields["movement"] = movements.of_event(doc, doc["unit_id"])
    return ScoreRead(**fields, current=in_force)


def _failure(exc: Exception) -> JobFailure:
    if isinstance(exc, RescoreRefused):
        problem = problem_for(exc)
        return {"status": problem.status, "code": problem.code, "detail": problem.detail}
    if isinstance(exc, KafkaUnavailable):
        return {"status": 503, "code": "unavailable", "detail": str(exc)}
    return {"status": 500, "code": "rescore-failed", "detail": repr(exc)[:500]}


def build_router(*, store: ScoreStore, rubrics: RubricBook, scorer: Scorer,
                 rescorer: Rescorer, jobs: Jobs) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["scores"])

    @router.get("/scores/{unit_id}", response_model=ScoreRead)
    async def read_score(unit_id: str, period: Period, principal: CurrentPrincipal,
                         rubric_version: Annotated[str | None, Query(
                             max_length=60, pattern=VERSION_PATTERN,
                             description="an earlier score, kept under this rubric")] = None,
                         ) -> ScoreRead:
        """The score in force, or the latest one kept under `rubric_version`."""
        ensure_access(principal, unit_id)
        current = await store.current(unit_id, period)
        doc = current if rubric_version is None else await store.by_version(
            unit_id, period, rubric_version)
        if doc is None:
            under = f" under {rubric_version}" if rubric_version else ""
            raise Problem(404, "not-found", f"no score for {unit_id} in {period}{under}")
        return _score(doc, current)

    @router.get("/scores/{unit_id}/history", response_model=list[ScoreRead],
                responses=PAGED)
    async def score_history(unit_id: str, period: Period, principal: CurrentPrincipal,
                            page: Paging, request: Request, response: Response
                            ) -> list[ScoreRead]:
        """Every score kept for the unit and period, by revision (paged: the `Link`
        header)."""
        ensure_access(principal, unit_id)
        current = await store.current(unit_id, period)
        docs, after = await store.history_page(unit_id, period, page)
        next_link(request, response, after, page.limit)
        return [_score(d, current) for d in docs]

    @router.get("/rubrics", response_model=list[RubricRead], tags=["rubrics"],
                responses=PAGED)
    async def list_rubrics(_: CurrentPrincipal, page: Paging, request: Request,
                           response: Response) -> list[RubricRead]:
        """The rubric versions, by unit type and first period (paged: the `Link` header)."""
        chosen, after = page_of_items(
            rubrics.versions(), lambda r: (r.unit_type, r.from_period, r.version), page)
        next_link(request, response, after, page.limit)
        return [RubricRead.of(r) for r in chosen]

    @router.get("/rubrics/{version}", response_model=RubricRead, tags=["rubrics"])
    async def read_rubric(version: str, _: CurrentPrincipal) -> RubricRead:
        rubric = rubrics.get(version)
        if rubric is None:
            raise Problem(404, "not-found", f"no rubric version {version!r}")
        return RubricRead.of(rubric)

    @router.get("/rubrics/in-force/{unit_type}", response_model=RubricRead, tags=["rubrics"])
    async def rubric_in_force(unit_type: str, period: Period, _: CurrentPrincipal
                              ) -> RubricRead:
        """The rubric new submissions of that type and period are scored with."""
        rubric = await scorer.rubric_for(unit_type, period)
        if rubric is None:
            raise Problem(404, "not-found", f"no {unit_type} rubric in force for {period}")
        return RubricRead.of(rubric)

    @router.post("/admin/rescore", response_model=JobRead, status_code=202, tags=["ops"],
                 responses={202: {"description": "started; poll the job (Location header)"},
                            409: {"description": "a rescore is already running"},
                            422: {"description": "unknown or inapplicable rubric version"}})
    async def rescore(body: RescoreCreate, action: AdminAction,
                      response: Response) -> JobRead:
        """Score a period again under a rubric version, which stays in force for that
        unit type and period; earlier scores stay readable by their version. Answers at
        once with a job (`GET /v1/admin/jobs/{id}`: stage, progress, then the result:
        records read, submissions, rescored, superseded) (admin, audited)."""
        action.target["rubric_version"] = body.rubric_version
        try:
            rescorer.check(body.period, body.rubric_version)
        except RescoreRefused as exc:
            raise problem_for(exc) from exc
        if jobs.running("rescore") is not None:
            raise problem_for(rescore_running())

        async def work(job: Job[RescoreSummary]) -> RescoreSummary:
            return await rescorer.rescore(body.period, body.rubric_version, job.progress)

        return start_job(jobs, "rescore", work, _failure, action=action, response=response)

    return router
