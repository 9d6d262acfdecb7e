"""HTTP entrypoints of the reporting service."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.common.http import OperatorPrincipal
from services.reporting.domain import report_csv_rows
from services.reporting.service import Reports

Period = Annotated[int, Query(ge=2000, le=2100, description="the year")]


def build_router(reports: Reports) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["reports"])

    @router.get("/reports/national", response_model=None)
    async def national(_: OperatorPrincipal, period: Period,
                       format: Literal["json", "csv"] = "json") -> Any:
        """The national synthesis of a period, as of now (the report says when)."""
        report = await reports.national(period)
        if format == "csv":
            buf = io.StringIO()
            csv.writer(buf).writerows(report_csv_rows(report))
            return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="national-{period}.csv"'})
        return report

    return router
