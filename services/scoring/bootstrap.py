"""Composition root of the scoring service."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.common.registry_replica import REPLICA_DOCUMENTS, RegistryReplica
from services.common.runtime import build_runtime, http_app
from services.common.topics import SUBMISSIONS, UNITS
from services.scoring.api import build_router
from services.scoring.service import Scorer
from services.scoring.settings import ScoringSettings
from services.scoring.store import DOCUMENTS, ScoreStore


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    settings = settings or ScoringSettings()
    rt = build_runtime(settings, DOCUMENTS + REPLICA_DOCUMENTS)
    store = ScoreStore(rt.db)
    scorer = Scorer(store=store, producer=rt.producer)
    replica = RegistryReplica(rt.db)
    loop = rt.record_loop("scoring")

    def topic(name: str) -> Any:
        return rt.faust_app.topic(name, value_serializer="raw", key_serializer="raw")

    async def submissions_agent(stream: Any) -> None:
        await loop.run(stream, scorer.on_submission)

    async def units_agent(stream: Any) -> None:
        await loop.run(stream, replica.apply)

    rt.faust_app.agent(topic(SUBMISSIONS), name="scoring-submissions")(submissions_agent)
    rt.faust_app.agent(topic(UNITS), name="scoring-units")(units_agent)

    app = http_app(rt, "Scoring service")
    app.include_router(build_router(store))
    return app
