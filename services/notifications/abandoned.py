"""Claims whose worker stopped between claiming a reminder and recording its outcome
(a crash, kill -9): the message may or may not have gone out, so such an entry is marked
`unknown`, reported (log, metric, event) and never resent.

An entry is abandoned when it is still `sending` and untouched for longer than a send
can take (a sender refreshes `touched_at` between tries). The open claims (a small side
collection the ledger store keeps: one document per entry in `sending`, see
`LedgerStore.open_claims`) are read after every rebalance and every few minutes; passes
also report the ones they meet on their way. The ledger itself is never searched by
status: that reads every entry on FerretDB."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from services.notifications import metrics
from services.notifications.domain import key_digest
from services.notifications.models import LedgerEntry
from services.notifications.outbox import EventLog, entry_notification
from services.notifications.ownership import Ownership
from services.notifications.store import LedgerStore

log = logging.getLogger(__name__)
DETAIL = ("claimed by a worker that stopped before recording the outcome; it may or may "
          "not have been sent, and is not resent")


class AbandonedClaims:
    def __init__(self, *, ledger: LedgerStore, events: EventLog, ownership: Ownership,
                 inflight: set[str], timeout_seconds: float, rescan_seconds: float = 300.0
                 ) -> None:
        self.ledger, self.events, self.ownership = ledger, events, ownership
        self.inflight = inflight  # this worker's own sends: never abandoned
        self.timeout = timedelta(seconds=timeout_seconds)
        self.rescan_seconds = rescan_seconds
        self._suspects: dict[str, LedgerEntry] = {}
        self._scanned: tuple[int, float] | None = None

    def notice(self, entry: LedgerEntry) -> None:
        """A `sending` entry met on the way (not ours): check it at the next reconcile."""
        if entry["_id"] not in self.inflight:
            self._suspects.setdefault(entry["_id"], entry)

    async def reconcile(self) -> list[str]:
        """Mark the abandoned claims of owned units; returns their keys."""
        if (self._scanned is None or self._scanned[0] != self.ownership.generation
                or time.monotonic() - self._scanned[1] > self.rescan_seconds):
            for found in await self.ledger.open_claims():
                self.notice(found)
            self._scanned = (self.ownership.generation, time.monotonic())
        now = datetime.now(UTC)
        marked = []
        for key, entry in list(self._suspects.items()):
            if key in self.inflight:
                del self._suspects[key]
                continue
            if not self.ownership.owns(entry["unit_id"]) or now - entry["touched_at"] < (
                    self.timeout):
                continue
            fresh = await self.ledger.get(key)
            del self._suspects[key]
            if fresh is None or fresh.get("status") != "sending":
                await self.ledger.closed(key)  # an open claim that outlived its state
                continue
            if fresh.get("touched_at") != entry.get("touched_at"):
                self._suspects[key] = fresh  # its worker is still at it
                continue
            if await self.mark(fresh):
                marked.append(key)
        return marked

    async def mark(self, entry: LedgerEntry) -> bool:
        """Report one abandoned claim as unknown (unless it moved on meanwhile)."""
        changed = await self.ledger.update(
            entry["_id"], {"status": "unknown", "detail": DETAIL,
                           "unknown_reason": "abandoned", "marked_at": datetime.now(UTC)},
            where={"status": entry["status"], "owner": entry.get("owner"),
                   "touched_at": entry.get("touched_at")})
        if not changed:
            return False
        log.warning("reminder claim abandoned: outcome unknown, not resent", extra={
            "fields": {"key": entry["_id"], "owner": entry.get("owner")}})
        metrics.REMINDERS.labels("unknown", entry.get("kind", "reminder"),
                                 entry["channel"]).inc()
        metrics.UNKNOWN_OUTCOMES.labels(entry["channel"], "abandoned").inc()
        await self.ledger.drop_deferral(entry["_id"])
        await self.events.emit(
            event_id=f"notif:{key_digest(entry['_id'])}:{entry.get('round', 1)}:abandoned",
            subject=entry["unit_id"], data={**entry_notification(entry, "unknown"),
                                            "detail": DETAIL})
        return True
