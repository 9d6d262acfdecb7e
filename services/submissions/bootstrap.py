"""Composition root of the submissions service: the one place adapters are wired."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.common.http import InflightLimit, RouteQueueLimit, with_problems
from services.common.runtime import build_runtime, http_app
from services.submissions import agents
from services.submissions.api import build_router, request_schema_component
from services.submissions.api_conferences import build_conference_router
from services.submissions.api_deadlines import build_deadline_router
from services.submissions.conferences import Conferences
from services.submissions.deadlines import Deadlines
from services.submissions.registry import load_registry
from services.submissions.schema import DOCUMENTS
from services.submissions.service import Intake
from services.submissions.settings import SubmissionsSettings
from services.submissions.store import SubmissionStore


def create_app(settings: SubmissionsSettings | None = None) -> FastAPI:
    settings = settings or SubmissionsSettings()
    rt = build_runtime(settings, DOCUMENTS)
    deadlines = Deadlines(db=rt.db, producer=rt.producer)
    intake = Intake(store=SubmissionStore(rt.db, settings.group_commit_window_seconds),
                    producer=rt.producer,
                    registry=load_registry(settings.registry_dir), clock=rt.clock,
                    faults=rt.faults, deadlines=deadlines)

    agents.register(rt, intake, settings)
    # The marks as published made after the answers, done before the database closes (a
    # stop without them only leaves the relay to publish those events again).
    rt.shutdown.append(intake.settled)

    app = http_app(rt, "Submissions service")
    inflight = InflightLimit("/v1/submissions", settings.max_inflight_submissions)
    app.include_router(build_router(intake, inflight))
    # Outermost (added last): a refusal costs no body read and no other layer.
    app.add_middleware(RouteQueueLimit, method="POST", path="/v1/submissions",
                       limit=max(settings.max_queued_submissions,
                                 settings.max_inflight_submissions), inflight=inflight)
    app.include_router(build_conference_router(intake, Conferences(
        db=rt.db, producer=rt.producer, registry=intake.registry)))
    app.include_router(build_deadline_router(intake, deadlines))
    app.state.intake = intake

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = with_problems(get_openapi(title=app.title, version=app.version,
                                               routes=app.routes))
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                request_schema_component())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
