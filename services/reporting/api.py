"""HTTP entrypoints of the reporting service: the reports in every format, and the
operator's rebuild. Thin: they ask the service and hand the result to a renderer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response

from services.common import movements
from services.common.auth import Principal
from services.common.http import AdminAction, CurrentPrincipal, Period, ViewerPrincipal
from services.common.job_actions import start_job
from services.common.jobs import Job, JobFailure, JobRead, Jobs
from services.common.movements import MovementQuery
from services.common.problems import Problem, problem_for
from services.reporting import metrics
from services.reporting.cluster_report import member_copy
from services.reporting.domain import UnknownCluster
from services.reporting.models import (
    ClusterReport,
    NationalReport,
    Report,
)
from services.reporting.rebuild import Rebuilder, RebuildError, RebuildRunning, RebuildSummary
from services.reporting.render import html, pdf, tables, xlsx
from services.reporting.render.values import writable
from services.reporting.service import Reports

ClusterId = Annotated[str, Path(pattern=r"^mps-cluster-[0-9]{1,4}$", max_length=20)]
NationalFormat = Literal["json", "csv", "xlsx", "pdf", "html"]
ClusterFormat = Literal["json", "csv", "pdf", "html"]
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
}


def _documented(model: type, formats: tuple[str, ...]) -> dict[int | str, Any]:
    content: dict[str, dict[str, str]] = {
        MEDIA[f].split(";")[0]: {} for f in formats if f != "json"}
    return {200: {"model": model, "content": content}}


def ensure_cluster_access(principal: Principal, members: list[str]) -> None:
    """The operator reads every cluster's report; a unit reads its own cluster's."""
    if principal.is_operator or principal.unit_id in members:
        return
    raise Problem(403, "forbidden", "a unit may read only the report of its own cluster")


async def _render(kind: str, fmt: str, report: Report, name: str,
                  render: Callable[[], bytes]) -> Response:
    started = time.perf_counter()
    try:
        # PDF and XLSX take a noticeable moment of CPU: off the event loop, which also
        # runs the stream agents.
        body = await asyncio.to_thread(render)
    except pdf.FontMissing as exc:
        raise Problem(503, "pdf-font-missing", str(exc)) from exc
    metrics.REPORTS_RENDERED.labels(kind, fmt).inc()
    metrics.REPORT_SECONDS.labels(kind, fmt).observe(time.perf_counter() - started)
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"',
               "Cache-Control": "no-store", "X-Report-As-Of": report["as_of"]}
    if fmt == "html":
        headers["Content-Disposition"] = f'inline; filename="{name}.{fmt}"'
        # The page has no script; what units wrote is escaped, and this says so again.
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return Response(body, media_type=MEDIA[fmt], headers=headers)


def _rebuild_failure(exc: Exception) -> JobFailure:
    if isinstance(exc, RebuildRunning):
        return {"status": 409, "code": "rebuild-running", "detail": str(exc)}
    if isinstance(exc, RebuildError):
        return {"status": 503, "code": "rebuild-failed", "detail": f"{exc}; the read models "
                "are incomplete until a rebuild succeeds: try again"}
    return {"status": 500, "code": "rebuild-failed", "detail": repr(exc)[:500]}


def build_router(reports: Reports, rebuilder: Rebuilder, font_dir: FsPath,
                 jobs: Jobs) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["reports"])

    @router.get("/reports/national", response_model=None,
                responses=_documented(NationalReport, ("csv", "xlsx", "pdf", "html")))
    async def national(_: ViewerPrincipal, period: Period,
                       format: NationalFormat = "json",
                       movement: MovementQuery = movements.DEFAULT) -> Any:
        """A movement's national synthesis of a period as of now (each format says when):
        `toan-dan` (default) is the synthesis for the Prime Minister, `vi-an-ninh` the
        police units' movement with its MPS clusters."""
        report = writable(await reports.national(period, movement))
        name = f"national-{period}" if movement == movements.DEFAULT \
            else f"national-{period}-{movement}"
        if format == "json":
            metrics.REPORTS_RENDERED.labels("national", "json").inc()
            return JSONResponse(report, headers={"Cache-Control": "no-store"})
        renderers: dict[str, Callable[[], bytes]] = {
            "csv": lambda: tables.national_csv(report),
            "xlsx": lambda: xlsx.national_xlsx(report),
            "pdf": lambda: pdf.national_pdf(report, font_dir),
            "html": lambda: html.national_html(report),
        }
        return await _render("national", format, report, name, renderers[format])

    @router.get("/reports/clusters/{cluster_id}", response_model=None,
                responses=_documented(ClusterReport, ("csv", "pdf", "html")))
    async def cluster(cluster_id: ClusterId, period: Period, principal: CurrentPrincipal,
                      format: ClusterFormat = "json") -> Any:
        """A cluster's year-end report for its conference. The operator reads every
        cluster's; a unit's token reads the report of the cluster it belongs to that
        year, with only its own breakdown and its own reminders' recipients."""
        try:
            members = await reports.cluster_members(cluster_id, period)
            ensure_cluster_access(principal, members)
            report = writable(await reports.cluster(cluster_id, period))
        except UnknownCluster as exc:
            raise problem_for(exc) from exc
        if not principal.is_operator and principal.unit_id is not None:
            report = member_copy(report, principal.unit_id)
        if format == "json":
            metrics.REPORTS_RENDERED.labels("cluster", "json").inc()
            return JSONResponse(report, headers={"Cache-Control": "no-store"})
        renderers: dict[str, Callable[[], bytes]] = {
            "csv": lambda: tables.cluster_csv(report),
            "pdf": lambda: pdf.cluster_pdf(report, font_dir),
            "html": lambda: html.cluster_html(report),
        }
        return await _render("cluster", format, report, f"{cluster_id}-{period}",
                             renderers[format])

    @router.post("/admin/rebuild", response_model=JobRead, status_code=202, tags=["ops"],
                 responses={202: {"description": "started; poll the job (Location header)"},
                            409: {"description": "a rebuild is already running"}})
    async def rebuild(action: AdminAction, response: Response) -> JobRead:
        """Drop the read models and replay the topics from the beginning up to their
        current end. Answers at once with a job (`GET /v1/admin/jobs/{id}`: records
        replayed of those to replay, then the result). The reports are incomplete while
        it runs; a failed rebuild leaves them so until one succeeds (admin, audited)."""
        if rebuilder.running or jobs.running("rebuild") is not None:
            raise Problem(409, "rebuild-running", "a rebuild is already running")

        async def work(job: Job[RebuildSummary]) -> RebuildSummary:
            result = await rebuilder.run(job.progress)
            return result.to_dict()

        return start_job(jobs, "rebuild", work, _rebuild_failure, action=action,
                         response=response)

    return router
