"""Composition root of the scoring service."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from services.common.clock import Clock
from services.common.jobs import Jobs, job_router
from services.common.ports import Database, Producer
from services.common.registry_replica import REPLICA_DOCUMENTS, RegistryReplica
from services.common.runtime import build_runtime, http_app
from services.scoring import agents, metrics
from services.scoring.api import build_router
from services.scoring.api_clusters import build_cluster_router
from services.scoring.change_publisher import ChangePublisher
from services.scoring.leadership_register import LeadershipRegister
from services.scoring.rescore import Rescorer
from services.scoring.rubrics import RubricBook, load_rubrics
from services.scoring.schema import DOCUMENTS
from services.scoring.service import Scorer
from services.scoring.settings import ScoringSettings
from services.scoring.standings_publisher import StandingsPublisher
from services.scoring.store import LeadershipStore, ScoreStore


@dataclass
class Parts:
    """The service's objects, wired; the HTTP app and the rescore command share them."""

    store: ScoreStore
    rubrics: RubricBook
    replica: RegistryReplica
    register: LeadershipRegister
    rankings: StandingsPublisher
    scorer: Scorer
    rescorer: Rescorer


def build_parts(settings: ScoringSettings, db: Database, producer: Producer,
                clock: Clock) -> Parts:
    rubrics = load_rubrics(settings.rubrics_dir)  # an invalid rubric stops the start-up
    metrics.RUBRICS_LOADED.set(len(rubrics.versions()))
    store = ScoreStore(db)
    replica = RegistryReplica(db)
    publisher = ChangePublisher(store=store, producer=producer)
    register = LeadershipRegister(store=LeadershipStore(db), replica=replica,
                                  publisher=publisher, clock=clock)
    rankings = StandingsPublisher(store=store, replica=replica, publisher=publisher,
                                  clock=clock, register=register,
                                  sweep_seconds=settings.rankings_sweep_seconds)
    scorer = Scorer(store=store, rubrics=rubrics, producer=producer, clock=clock,
                    rankings=rankings)
    rescorer = Rescorer(bootstrap=settings.kafka_bootstrap, scorer=scorer, rubrics=rubrics,
                        store=store, rankings=rankings, clock=clock,
                        timeout=settings.rescore_timeout_seconds,
                        auth=settings.kafka_auth())
    return Parts(store=store, rubrics=rubrics, replica=replica, register=register,
                 rankings=rankings, scorer=scorer, rescorer=rescorer)


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    settings = settings or ScoringSettings()
    rt = build_runtime(settings, DOCUMENTS + REPLICA_DOCUMENTS)
    parts = build_parts(settings, rt.db, rt.producer, rt.clock)
    agents.register(rt, scorer=parts.scorer, replica=parts.replica, rankings=parts.rankings,
                    rankings_interval=settings.rankings_interval_seconds)

    app = http_app(rt, "Scoring service")
    jobs = Jobs()
    app.include_router(build_router(store=parts.store, rubrics=parts.rubrics,
                                    scorer=parts.scorer, rescorer=parts.rescorer, jobs=jobs))
    app.include_router(job_router(jobs))
    app.include_router(build_cluster_router(rankings=parts.rankings, register=parts.register))
    return app
