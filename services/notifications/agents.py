"""Stream entrypoints of the notifications service: every Kafka topic it reads and the
agent that reads it. The agents only iterate their stream through the record loop
(dead letters, retries, tracing) and call the service; bootstrap.py calls `register`."""

from __future__ import annotations

from typing import Any

from services.common.registry_replica import RegistryReplica
from services.common.runtime import Runtime
from services.common.topics import SUBMISSIONS, UNITS
from services.notifications.service import Notifications


def register(rt: Runtime, *, service: Notifications, replica: RegistryReplica) -> None:
    """Declare the service's agents on the runtime's faust app: accepted submissions
    (who has reported, and the reminders that cancels) and the unit registry."""
    loop = rt.record_loop("notifications")

    def topic(name: str) -> Any:
        return rt.faust_app.topic(name, value_serializer="raw", key_serializer="raw")

    async def submissions_agent(stream: Any) -> None:
        await loop.run(stream, service.on_submission)

    async def units_agent(stream: Any) -> None:
        await loop.run(stream, replica.apply)

    rt.faust_app.agent(topic(SUBMISSIONS), name="notifications-submissions")(submissions_agent)
    rt.faust_app.agent(topic(UNITS), name="notifications-units")(units_agent)
