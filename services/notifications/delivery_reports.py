"""Delivery receipts (SMPP deliver_sm): a receipt may arrive before or after the
ledger records the message ids, so both sides write to `provider_messages` and whoever
comes second applies it. An SMS is delivered when every part has DELIVRD."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC
from functools import partial

from services.common.clock import Clock
from services.notifications import metrics
from services.notifications.domain import key_digest
from services.notifications.outbox import EventLog, entry_notification
from services.notifications.smpp import SmppProvider
from services.notifications.store import LedgerStore

log = logging.getLogger(__name__)
FINAL_FAILURES = ("UNDELIV", "EXPIRED", "REJECTD", "DELETED")
KNOWN_STATS = {"DELIVRD", "ACCEPTD", "ENROUTE", "UNKNOWN", *FINAL_FAILURES}


class DeliveryReports:
    # Providers that send delivery receipts (others: the ledger stops at `sent`).
    providers = frozenset({"smpp"})

    def __init__(self, *, clock: Clock, ledger: LedgerStore, events: EventLog) -> None:
        self.clock, self.ledger, self.events = clock, ledger, events

    async def listen(self, smpp: SmppProvider) -> None:
        """Record the SMPP session's receipts as they come, until cancelled (then close
        the session): smpplib's reader thread hands them to the event loop through a
        queue."""
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        running = asyncio.get_running_loop()

        def hand_over(mid: str, stat: str) -> None:
            running.call_soon_threadsafe(queue.put_nowait, (mid, stat))

        smpp.on_receipt = hand_over
        try:
            while True:
                mid, stat = await queue.get()
                await _retry_forever(partial(self.received, "smpp", mid, stat))
        finally:
            await asyncio.to_thread(smpp.close)

    async def sent(self, key: str, provider: str, message_ids: list[str]) -> None:
        """The ledger has these ids now; apply a receipt that came first."""
        for mid in message_ids:
            doc = await self.ledger.index_message(provider, mid, key)
            if doc and doc.get("stat"):
                await self.apply(key, provider)

    async def received(self, provider: str, message_id: str, stat: str) -> None:
        metrics.RECEIPTS.labels(provider, stat if stat in KNOWN_STATS else "other").inc()
        doc = await self.ledger.record_receipt(provider, message_id, stat, self.clock.now())
        if doc and doc.get("key"):
            await self.apply(doc["key"], provider)

    async def apply(self, key: str, provider: str) -> None:
        entry = await self.ledger.get(key)
        if entry is None or entry.get("status") != "sent":
            return
        ids = entry.get("provider_ids") or []
        stats = {d["_id"].split(":", 1)[1]: d.get("stat")
                 for d in await self.ledger.receipts_of(provider, ids)}
        failed = [s for s in stats.values() if s in FINAL_FAILURES]
        kind = entry.get("kind", "reminder")
        if failed:
            detail = f"delivery receipt: {failed[0]}"
            if await self.ledger.update(key, {"status": "failed", "receipts": stats,
                                              "detail": detail}, where={"status": "sent"}):
                metrics.REMINDERS.labels("undelivered", kind, entry["channel"]).inc()
                undelivered = entry_notification(entry, "failed")
                undelivered["provider"], undelivered["detail"] = provider, detail
                await self.events.emit(event_id=f"notif:{key_digest(key)}:undelivered",
                                       subject=entry["unit_id"], data=undelivered)
        elif ids and all(stats.get(i) == "DELIVRD" for i in ids):
            delivered_at = self.clock.now()
            if await self.ledger.update(key, {"status": "delivered", "receipts": stats,
                                              "delivered_at": delivered_at},
                                        where={"status": "sent"}):
                metrics.REMINDERS.labels("delivered", kind, entry["channel"]).inc()
                sent_at = entry.get("sent_at")
                delivered = entry_notification(entry, "delivered")
                delivered["provider"] = provider
                delivered["sent_at"] = sent_at.astimezone(UTC).isoformat() if sent_at else None
                delivered["delivered_at"] = delivered_at.astimezone(UTC).isoformat()
                await self.events.emit(
                    event_id=f"notif:{key_digest(key)}:delivered", subject=entry["unit_id"],
                    data=delivered)


async def _retry_forever(call: Callable[[], Awaitable[None]], tries: int = 20) -> None:
    """A receipt is worth a few retries while the database is away, not a stuck queue."""
    delay = 0.2
    for attempt in range(tries):
        try:
            await call()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            if attempt == tries - 1:
                log.exception("a delivery receipt could not be recorded")
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
