"""Entrypoints that are not HTTP: every Kafka topic the notifications service reads and
the agent that reads it, and its periodic jobs (the scheduling pass, the gauges, the
outbox relay, the synthesis milestone's reminders) and the SMPP receipt listener. The
agents only iterate their stream through the record loop (dead letters, retries,
tracing) and call the service; bootstrap.py builds the objects and calls `register`."""

from __future__ import annotations

from typing import Any

from services.common.kafka import raw_topic
from services.common.registry_replica import RegistryReplica
from services.common.runtime import Runtime
from services.common.topics import SUBMISSIONS, UNITS
from services.notifications.delivery_reports import DeliveryReports
from services.notifications.milestone import Milestones
from services.notifications.outbox import EventLog
from services.notifications.scheduler import Scheduler
from services.notifications.service import Notifications
from services.notifications.settings import NotificationsSettings
from services.notifications.smpp import SmppProvider


def register(rt: Runtime, settings: NotificationsSettings, *, service: Notifications,
             replica: RegistryReplica, scheduler: Scheduler, events: EventLog,
             milestones: Milestones, delivery_reports: DeliveryReports,
             smpp: SmppProvider) -> None:
    """The agents on accepted submissions (who has reported, and the reminders that
    cancels) and on the unit registry; the timers; the receipt listener."""
    loop = rt.record_loop("notifications")

    async def submissions_agent(stream: Any) -> None:
        await loop.run(stream, service.on_submission)

    async def units_agent(stream: Any) -> None:
        await loop.run(stream, replica.apply)

    app = rt.faust_app
    app.agent(raw_topic(app, SUBMISSIONS), name="notifications-submissions")(submissions_agent)
    app.agent(raw_topic(app, UNITS), name="notifications-units")(units_agent)

    async def scheduled_pass() -> None:
        await scheduler.run_pass("timer")

    async def event_relay() -> None:
        await events.relay_once()

    async def campaign_gauges() -> None:
        await service.publish_gauges()

    async def milestone_pass() -> None:
        await milestones.remind()

    rt.every(settings.scheduler_interval_seconds, scheduled_pass)
    rt.every(settings.gauges_interval_seconds, campaign_gauges)
    rt.every(settings.relay_interval_seconds, event_relay)
    rt.every(settings.scheduler_interval_seconds, milestone_pass)
    rt.background.append(lambda: delivery_reports.listen(smpp))
