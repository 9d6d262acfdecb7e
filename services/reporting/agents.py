"""Stream entrypoints: the reporting service's agents, one per topic it reads, each
handing every record to the record loop and the read models' handler of its topic."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.common.kafka import Handler, raw_topic
from services.common.runtime import Runtime
from services.common.topics import NOTIFICATIONS, SCORES, SUBMISSIONS, UNITS

# The agent of each topic, by name (a consumer's name in its traces and metrics).
AGENTS = {SUBMISSIONS: "reporting-submissions", SCORES: "reporting-scores",
          NOTIFICATIONS: "reporting-notifications", UNITS: "reporting-units"}


def register(rt: Runtime, handlers: dict[str, Handler]) -> None:
    """Declare the agents on the runtime's faust app: each topic's records go through
    one record loop to `handlers[topic]` (the same handlers a rebuild replays into)."""
    loop = rt.record_loop("reporting")

    def consumer(handler: Handler) -> Callable[[Any], Awaitable[None]]:
        async def consume(stream: Any) -> None:
            await loop.run(stream, handler)
        return consume

    for topic_name, name in AGENTS.items():
        rt.faust_app.agent(raw_topic(rt.faust_app, topic_name),
                           name=name)(consumer(handlers[topic_name]))
