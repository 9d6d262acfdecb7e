"""Stream entrypoints of the scoring service: every Kafka topic it consumes and the faust
agent that hands each record to its use case (through the record loop: dead letters,
retries, tracing)."""

from __future__ import annotations

from typing import Any

from services.common.registry_replica import RegistryReplica
from services.common.runtime import Runtime
from services.common.topics import SUBMISSIONS, UNITS
from services.scoring.service import Scorer


def register(rt: Runtime, *, scorer: Scorer, replica: RegistryReplica) -> None:
    """Declare the agents on the runtime's faust app: accepted submissions are scored,
    the unit registry is kept in the replica the standings read."""
    loop = rt.record_loop("scoring")

    def topic(name: str) -> Any:
        return rt.faust_app.topic(name, value_serializer="raw", key_serializer="raw")

    async def submissions_agent(stream: Any) -> None:
        await loop.run(stream, scorer.on_submission)

    async def units_agent(stream: Any) -> None:
        await loop.run(stream, replica.apply)

    rt.faust_app.agent(topic(SUBMISSIONS), name="scoring-submissions")(submissions_agent)
    rt.faust_app.agent(topic(UNITS), name="scoring-units")(units_agent)
