"""Stream entrypoints of the scoring service: every Kafka topic it consumes, with the
faust agent that hands each record to its use case through the record loop (dead
letters, retries, tracing), and the periodic job that publishes the rankings."""

from __future__ import annotations

from typing import Any

from services.common.kafka import raw_topic
from services.common.registry_replica import RegistryReplica
from services.common.runtime import Runtime
from services.common.topics import SUBMISSIONS, UNITS
from services.scoring.service import Scorer
from services.scoring.standings_publisher import StandingsPublisher


def register(rt: Runtime, *, scorer: Scorer, replica: RegistryReplica,
             rankings: StandingsPublisher, rankings_interval: float) -> None:
    """Accepted submissions are scored; the unit registry is kept in the replica the
    standings read; every `rankings_interval` seconds the debounced standings and
    proposals are published (the first run publishes what a crash left pending)."""
    loop = rt.record_loop("scoring")

    async def submissions_agent(stream: Any) -> None:
        await loop.run(stream, scorer.on_submission)

    async def units_agent(stream: Any) -> None:
        await loop.run(stream, replica.apply)

    app = rt.faust_app
    app.agent(raw_topic(app, SUBMISSIONS), name="scoring-submissions")(submissions_agent)
    app.agent(raw_topic(app, UNITS), name="scoring-units")(units_agent)
    rt.every(rankings_interval, rankings.tick)
