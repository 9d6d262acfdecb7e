"""The operators' dashboard: a static page (no build step, nothing from outside) and
the JSON it polls. The page is public; its data needs an account's token (viewer or
higher), which the page keeps in sessionStorage and sends as a Bearer header; an admin's
page also shows this service's audit trail (`GET /v1/audit`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from services.common.clock import Clock
from services.common.http import ViewerPrincipal
from services.common.movements import DEFAULT, MovementQuery
from services.reporting.labels import VN_TZ
from services.reporting.render.values import writable
from services.reporting.service import Reports

STATIC = Path(__file__).resolve().parent / "static"
# Only this origin's own script, style and data: no inline script, nothing outside.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")


def mount_dashboard(app: FastAPI, reports: Reports, clock: Clock) -> None:
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")
    app.include_router(_router(reports, clock))


def _router(reports: Reports, clock: Clock) -> APIRouter:
    router = APIRouter(tags=["dashboard"])

    @router.get("/dashboard", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "dashboard.html", media_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": CSP,
                                     "Referrer-Policy": "no-referrer",
                                     "X-Content-Type-Options": "nosniff"})

    @router.get("/v1/dashboard/data")
    async def data(_: ViewerPrincipal,
                   period: Annotated[int | None, Query(ge=2000, le=2100)] = None,
                   movement: MovementQuery = DEFAULT) -> Any:
        """The dashboard's figures for a period (default: the current year): the same
        numbers as the national report, the daily cumulative rates towards the
        deadline, the missing units and links to every report."""
        year = period or clock.now().astimezone(VN_TZ).year
        return JSONResponse(writable(await reports.dashboard(year, movement)),
                            headers={"Cache-Control": "no-store"})

    return router
