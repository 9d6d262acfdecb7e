"""Composition root of the notifications service."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.common.registry_replica import REPLICA_DOCUMENTS, RegistryReplica
from services.common.runtime import build_runtime, http_app
from services.common.topics import SUBMISSIONS, UNITS
from services.notifications.api import build_router
from services.notifications.service import Campaigns
from services.notifications.settings import NotificationsSettings
from services.notifications.store import DOCUMENTS, StatusStore


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    rt = build_runtime(settings, DOCUMENTS + REPLICA_DOCUMENTS)
    replica = RegistryReplica(rt.db)
    campaigns = Campaigns(store=StatusStore(rt.db), replica=replica)
    loop = rt.record_loop("notifications")

    def topic(name: str) -> Any:
        return rt.faust_app.topic(name, value_serializer="raw", key_serializer="raw")

    async def submissions_agent(stream: Any) -> None:
        await loop.run(stream, campaigns.on_submission)

    async def units_agent(stream: Any) -> None:
        await loop.run(stream, replica.apply)

    rt.faust_app.agent(topic(SUBMISSIONS), name="notifications-submissions")(submissions_agent)
    rt.faust_app.agent(topic(UNITS), name="notifications-units")(units_agent)

    app = http_app(rt, "Notifications service")
    app.include_router(build_router(campaigns))
    return app
