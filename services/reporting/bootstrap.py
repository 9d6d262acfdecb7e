"""Composition root of the reporting service."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.common.registry_replica import REPLICA_DOCUMENTS, RegistryReplica
from services.common.runtime import build_runtime, http_app
from services.common.topics import SCORES, SUBMISSIONS, UNITS
from services.reporting.api import build_router
from services.reporting.service import Reports
from services.reporting.settings import ReportingSettings
from services.reporting.store import DOCUMENTS, ReadModel


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    rt = build_runtime(settings, DOCUMENTS + REPLICA_DOCUMENTS)
    replica = RegistryReplica(rt.db)
    reports = Reports(model=ReadModel(rt.db), replica=replica, clock=rt.clock)
    loop = rt.record_loop("reporting")

    def topic(name: str) -> Any:
        return rt.faust_app.topic(name, value_serializer="raw", key_serializer="raw")

    async def submissions_agent(stream: Any) -> None:
        await loop.run(stream, reports.on_submission)

    async def scores_agent(stream: Any) -> None:
        await loop.run(stream, reports.on_score)

    async def units_agent(stream: Any) -> None:
        await loop.run(stream, replica.apply)

    rt.faust_app.agent(topic(SUBMISSIONS), name="reporting-submissions")(submissions_agent)
    rt.faust_app.agent(topic(SCORES), name="reporting-scores")(scores_agent)
    rt.faust_app.agent(topic(UNITS), name="reporting-units")(units_agent)

    app = http_app(rt, "Reporting service")
    app.include_router(build_router(reports))
    return app
