"""Composition root of the reporting service."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from services.common.jobs import Jobs, job_router
from services.common.registry_replica import REPLICA_DOCUMENTS, RegistryReplica
from services.common.runtime import Runtime, build_runtime, http_app
from services.reporting import agents
from services.reporting.api import build_router
from services.reporting.api_dashboard import mount_dashboard
from services.reporting.rebuild import Rebuilder
from services.reporting.schema import DOCUMENTS
from services.reporting.service import Reports
from services.reporting.settings import ReportingSettings
from services.reporting.store import ReadModel

# The registry replica is a read model too: a rebuild drops and replays it as well.
READ_MODELS = DOCUMENTS + REPLICA_DOCUMENTS


@dataclass
class Parts:
    reports: Reports
    rebuilder: Rebuilder


def build_parts(rt: Runtime, settings: ReportingSettings) -> Parts:
    """The service's adapters on a runtime."""
    model = ReadModel(rt.db)
    reports = Reports(model=model, replica=RegistryReplica(rt.db), clock=rt.clock,
                      refresh_seconds=settings.dashboard_refresh_seconds)
    return Parts(reports=reports, rebuilder=rebuilder_for(settings, reports))


def rebuilder_for(settings: ReportingSettings, reports: Reports) -> Rebuilder:
    """The rebuild of `reports`' read models through its handlers and folds (the
    service's and the CLI's)."""
    return Rebuilder(bootstrap=settings.kafka_bootstrap, model=reports.model,
                     handlers=reports.handlers(), documents=READ_MODELS,
                     timeout=settings.rebuild_timeout_seconds,
                     auth=settings.kafka_auth(), folds=reports.folds())


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    rt = build_runtime(settings, READ_MODELS)
    parts = build_parts(rt, settings)
    # The watermark is written at most every few 100 ms: write what is held at exit.
    rt.shutdown.append(parts.reports.model.flush)
    agents.register(rt, parts.reports.handlers())

    app = http_app(rt, "Reporting service")
    jobs = Jobs()
    app.include_router(build_router(parts.reports, parts.rebuilder, settings.pdf_font_dir,
                                    jobs))
    app.include_router(job_router(jobs))
    mount_dashboard(app, parts.reports, rt.clock)
    return app
