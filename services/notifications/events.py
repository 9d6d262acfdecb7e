"""Notification events on emulation.notifications.v1. An event Kafka does not take goes
to an outbox in the database and a relay publishes it later, so a Kafka outage delays
events but loses none; sends do not wait for Kafka to come back."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.envelope import new_event, parse_event
from services.common.kafka import EventProducer, KafkaUnavailable
from services.common.topics import NOTIFICATIONS
from services.notifications.store import OutboxStore

log = logging.getLogger(__name__)
SCHEMA = "notification"


class EventLog:
    def __init__(self, *, producer: EventProducer, outbox: OutboxStore, source: str) -> None:
        self.producer, self.outbox, self.source = producer, outbox, source

    async def emit(self, *, event_id: str, subject: str, data: dict[str, Any]) -> None:
        """`data` follows schemas/events/notification.v1.json; its status names the type.
        Produced at once; kept in the outbox only if Kafka does not take it."""
        event = new_event(type=f"vn.emulation.notification.{data['status']}",
                          source=self.source, subject=subject, schema=SCHEMA, data=data,
                          id=event_id)
        try:
            await self.producer.send(NOTIFICATIONS, event, key=subject)
        except KafkaUnavailable as exc:
            log.warning("notification event kept in the outbox", extra={"fields": {
                "event_id": event.id, "error": repr(exc)}})
            await self.outbox.add({"_id": event.id, "key": subject, "event": event.to_dict(),
                                   "created_at": datetime.now(UTC)})

    async def relay_once(self, grace_seconds: float = 5.0) -> int:
        """Publish what the outbox still holds (older than the grace); returns count."""
        docs = await self.outbox.older_than(datetime.now(UTC) - timedelta(seconds=grace_seconds))
        for doc in docs:
            event = parse_event(json.dumps(doc["event"], ensure_ascii=False, default=str))
            await self.producer.send(NOTIFICATIONS, event, key=doc["key"])
            await self.outbox.remove(doc["_id"])
        return len(docs)

