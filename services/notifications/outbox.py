"""Notification events on emulation.notifications.v1. An event Kafka does not take goes
to an outbox in the database and a relay publishes it later, so a Kafka outage delays
events but loses none; sends do not wait for Kafka to come back."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from services.common import event_types
from services.common.backoff import EntryBackoff
from services.common.contracts import Notification
from services.common.envelope import new_event, parse_event
from services.common.kafka import KafkaUnavailable
from services.common.outbox_relay import publish_in_order
from services.common.ports import Producer
from services.common.topics import NOTIFICATIONS
from services.notifications.domain import unit_movement
from services.notifications.models import LedgerEntry, OutboxEntry
from services.notifications.store import OutboxStore

log = logging.getLogger(__name__)
SCHEMA = "notification"


def entry_notification(entry: LedgerEntry, status: str) -> Notification:
    """The event data that names a ledger entry, with its new status; filed under its
    unit's movement (a digest's entry too: its recipient's)."""
    return {"unit_id": entry["unit_id"], "period": entry["period"], "stage": entry["stage"],
            "channel": entry["channel"], "recipient": entry["recipient"],
            "kind": entry.get("kind", "reminder"), "status": status,
            "movement": unit_movement(entry["unit_id"])}


class EventLog:
    def __init__(self, *, producer: Producer, outbox: OutboxStore, source: str) -> None:
        self.producer, self.outbox, self.source = producer, outbox, source
        # The relay's next attempt per event that failed (1 s doubling, at most 60 s).
        self.relay_backoff = EntryBackoff(first=1.0, cap=60.0)

    async def emit(self, *, event_id: str, subject: str, data: Notification) -> None:
        """`data` follows schemas/events/notification.v2.json; its status names the type.
        Produced at once; kept in the outbox only if Kafka does not take it."""
        event = new_event(type=event_types.notification(data["status"]),
                          source=self.source, subject=subject, schema=SCHEMA, version=2,
                          data=data, id=event_id)
        try:
            await self.producer.send(NOTIFICATIONS, event, key=subject)
        except KafkaUnavailable as exc:
            log.warning("notification event kept in the outbox", extra={"fields": {
                "event_id": event.id, "error": repr(exc)}})
            await self.outbox.add({"_id": event.id, "key": subject, "event": event.to_dict(),
                                   "created_at": datetime.now(UTC)})

    async def relay_once(self, grace_seconds: float = 5.0, batch: int = 200) -> int:
        """Publish what the outbox still holds (older than the grace); returns how many
        it published. An event Kafka does not take stays in the outbox and is retried
        later with backoff (`relay_backoff`); the relay goes on with the others, except
        later events of the same key, which keep their order behind it."""
        waiting = self.relay_backoff.waiting()
        older_than = datetime.now(UTC) - timedelta(seconds=grace_seconds)
        # Read past the entries waiting for their retry (and those of their keys, held
        # behind them), so they never fill the batch: at most a few reads.
        limit = batch + len(waiting)
        while True:
            docs = await self.outbox.older_than(older_than, limit=limit)
            held = {d["key"] for d in docs if d["_id"] in waiting}
            ready = [d for d in docs if d["key"] not in held]
            if len(ready) >= batch or len(docs) < limit or limit >= 16 * batch:
                break
            limit *= 2
        if len(docs) < limit:  # the whole outbox that is old enough
            self.relay_backoff.retain({d["_id"] for d in docs})
        return await publish_in_order(
            ready, publish=self._publish, entry_id=lambda d: d["_id"], key=lambda d: d["key"],
            held=held, backoff=self.relay_backoff, batch=batch, service="notifications",
            log=log, what="event", id_field="event_id")

    async def _publish(self, doc: OutboxEntry) -> bool:
        event = parse_event(json.dumps(doc["event"], ensure_ascii=False, default=str))
        await self.producer.send(NOTIFICATIONS, event, key=doc["key"])
        await self.outbox.remove(doc["_id"])
        return True
