"""Reminders whose outcome is `unknown` are resolved within a bounded time, never left so:

1. an e-mail is looked up by its Message-ID in the SMTP relay's log (`MessageTrace`,
   where the relay can tell): found, it was sent (`sent`, `resolution: message-id`);
2. otherwise the reminder goes once more by the other channel (e-mail <-> SMS), with a
   note that it may arrive twice, under that channel's ledger key for the stage: the
   claim is an insert like any send, so a restart or a second worker sends it at most
   once, and a unit that already has the stage by that channel gets nothing more. The
   unknown entry becomes `escalated` (`fallback`, `fallback_key`);
3. with no other address, its stage past, or the other channel's entry failed too, it
   ends `failed` with the reason; a unit that reported since gets nothing more (`failed`,
   `resolution: reported`).

Candidates come from the small `unresolved` collection (`LedgerStore.unresolved`), read
each pass; an entry is resolved once it has been unknown for `grace_seconds` (a late
relay log line, a slow worker's late mark), by the worker that owns its unit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, Unpack

import httpx

from services.common.clock import Clock
from services.notifications import metrics
from services.notifications.campaigns import CampaignInvalid, build_campaign
from services.notifications.domain import (
    EMAIL,
    SMS,
    current_stage,
    for_movement,
    key_digest,
    ledger_key,
    quiet_until,
    unit_movement,
    unit_timezone,
)
from services.notifications.models import LedgerEntry
from services.notifications.outbox import EventLog, entry_notification
from services.notifications.ownership import Ownership
from services.notifications.reminder_sender import REMINDER_KIND, Job, Sender
from services.notifications.store import CampaignStore, LedgerStore, StatusStore

log = logging.getLogger(__name__)
REACHED = ("sent", "delivered")


class TraceUnavailable(Exception):
    """The relay's log could not be asked: no answer either way."""


class MessageTrace(Protocol):
    async def received(self, message_id: str) -> str | None:
        """When the relay took the message with this Message-ID (ISO time), or None if
        it has no record of it; raise TraceUnavailable when it cannot tell."""


class HttpMessageTrace:
    """A relay's message log over HTTP: `GET <url>?message_id=<id>` answers
    `{"found": bool, "received_at": iso}`. The local SMTP sink serves it
    (`/smtp/messages`); in production a small adapter over the relay's log (a Postfix
    `cleanup` line names the Message-ID of every message it accepted) or over Mailpit's
    search answers the same."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url, self.timeout = url, timeout

    async def received(self, message_id: str) -> str | None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                resp = await client.get(self.url, params={"message_id": message_id})
                resp.raise_for_status()
                body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TraceUnavailable(repr(exc)[:300]) from exc
        if not isinstance(body, dict):
            raise TraceUnavailable("the trace did not answer an object")
        if not body.get("found"):
            return None
        return str(body.get("received_at") or "") or "an unknown time"


@dataclass(frozen=True)
class Resolution:
    key: str
    status: str  # sent, escalated, failed, or "" (not yet: wait for a later pass)
    resolution: str = ""


class UnknownOutcomes:
    def __init__(self, *, clock: Clock, ledger: LedgerStore, campaigns: CampaignStore,
                 status: StatusStore, replica: Any, sender: Sender, events: EventLog,
                 ownership: Ownership, trace: MessageTrace | None,
                 grace_seconds: float = 60.0) -> None:
        self.clock, self.ledger, self.campaigns = clock, ledger, campaigns
        self.status, self.replica, self.sender = status, replica, sender
        self.events, self.ownership, self.trace = events, ownership, trace
        self.grace = timedelta(seconds=grace_seconds)

    async def resolve(self) -> list[Resolution]:
        """Resolve the owned unknown entries past their grace; returns what was done."""
        now = datetime.now(UTC)
        done = []
        for found in await self.ledger.unresolved():
            if not self.ownership.owns(found["unit_id"]) or now - found["since"] < self.grace:
                continue
            try:
                outcome = await self._resolve(found["_id"])
            except Exception:
                log.exception("resolving an unknown outcome failed; the next pass retries",
                              extra={"fields": {"key": found["_id"]}})
                continue
            if outcome.status:
                done.append(outcome)
        return done

    async def _resolve(self, key: str) -> Resolution:
        entry = await self.ledger.get(key)
        if entry is None or entry.get("status") != "unknown":
            await self.ledger.resolved(key)  # resolved meanwhile, or a late `sent` won
            return Resolution(key, "")
        mid = entry.get("message_id")
        if entry["channel"] == EMAIL and self.trace is not None and mid:
            try:
                when = await self.trace.received(mid)
            except TraceUnavailable as exc:
                log.warning("the SMTP relay's log cannot tell; escalating instead",
                            extra={"fields": {"key": key, "error": str(exc)}})
                when = None
            if when is not None:
                return await self._settle(entry, "sent", "message-id", (
                    f"{entry.get('detail', '')}; found in the SMTP relay's log by its "
                    f"Message-ID (received {when}): sent"), sent_at=self.clock.now())
        return await self._escalate(entry)

    async def _escalate(self, entry: LedgerEntry) -> Resolution:
        why = f"outcome unknown ({entry.get('unknown_reason') or 'provider'})"
        doc = await self.campaigns.get(int(entry["period"]))
        try:
            campaign = build_campaign(int(entry["period"]), doc) if doc else None
        except CampaignInvalid:
            campaign = None
        if campaign is None:
            return await self._settle(entry, "failed", "no-fallback",
                                      f"{why}; its campaign is gone or invalid: not resent")
        if campaign.paused:
            return Resolution(entry["_id"], "")  # resolved once the campaign resumes
        if entry.get("kind", REMINDER_KIND) != REMINDER_KIND:
            return await self._settle(entry, "failed", "no-fallback",
                                      f"{why}; a digest has no other channel: not resent")
        if entry.get("fallback_of"):
            return await self._settle(entry, "failed", "no-fallback", (
                f"{why}; it was itself the other channel's fallback for "
                f"{entry['fallback_of']}: not resent"))
        if await self.status.of_unit(entry["unit_id"], campaign.period) is not None:
            return await self._settle(entry, "failed", "reported",
                                      f"{why}; the unit has reported since: nothing more sent")
        base = str(entry["stage"])
        movement = unit_movement(entry["unit_id"])
        campaign = for_movement(campaign, movement, await self.replica.deadline(
            movement, campaign.period))
        stage = campaign.stage(base)
        due = current_stage(campaign, self.clock.now())
        if stage is None or due is None or due.stage.name != base:
            return await self._settle(entry, "failed", "stage-past", (
                f"{why}; its stage is no longer current: the next stage's reminder "
                "replaces it"))
        unit = self.sender.units.get(entry["unit_id"]) or await self.replica.unit(
            entry["unit_id"]) or {"_id": entry["unit_id"]}
        other = SMS if entry["channel"] == EMAIL else EMAIL
        contacts = unit.get("contacts") or {}
        addresses = contacts.get("phones" if other == SMS else "emails") or []
        if not addresses:
            return await self._settle(entry, "failed", "no-fallback",
                                      f"{why}; the unit has no {other} address: not resent")
        address = str(addresses[0])
        if other == SMS and quiet_until(self.clock.now(), campaign.quiet_hours,
                                        unit_timezone(unit, campaign.tz)) is not None:
            return Resolution(entry["_id"], "")  # an SMS waits for the window to open
        fallback_key = ledger_key(entry["unit_id"], campaign.period, base, other, address)
        outcome = await self.sender.send(Job(
            key=fallback_key, campaign=campaign, stage=stage, stage_name=base, unit=unit,
            channel=other, recipient=address, fallback_of=entry["_id"]))
        if outcome == "released":  # paused just now: nothing went out
            return Resolution(entry["_id"], "")
        if outcome == "taken":
            # Claimed before: this resolution's own fallback (a restart, another worker),
            # or the unit's reminder of the stage by that channel.
            held = await self.ledger.get(fallback_key) or {}
            ours = held.get("fallback_of") == entry["_id"]
            state = str(held.get("status"))
            if not ours and state not in (*REACHED, "sending"):
                return await self._settle(entry, "failed", "no-fallback", (
                    f"{why}; the stage's {other} to {address} is {state} too: not resent"),
                    fallback=f"{other}:{address}", fallback_key=fallback_key)
            outcome = f"{'its fallback' if ours else 'the stage reminder'}, {state}"
        return await self._settle(entry, "escalated", "fallback", (
            f"{why}; sent again by {other} to {address} with a note that it may arrive "
            f"twice ({outcome})"), fallback=f"{other}:{address}", fallback_key=fallback_key)

    async def _settle(self, entry: LedgerEntry, status: str, resolution: str, detail: str,
                      /, **fields: Unpack[LedgerEntry]) -> Resolution:
        key = entry["_id"]
        changed = await self.ledger.update(key, {
            "status": status, "resolution": resolution, "detail": detail[:800],
            "resolved_at": datetime.now(UTC), **fields}, where={"status": "unknown"})
        await self.ledger.resolved(key)
        if not changed:
            return Resolution(key, "")
        metrics.UNKNOWN_RESOLVED.labels(entry["channel"], resolution).inc()
        log.warning("unknown reminder outcome resolved", extra={"fields": {
            "key": key, "status": status, "resolution": resolution}})
        data = entry_notification(entry, status)
        data["detail"] = detail[:500]
        sent_at, fallback = fields.get("sent_at"), fields.get("fallback")
        if sent_at:
            data["sent_at"] = sent_at.astimezone(UTC).isoformat()
        if fallback:
            data["fallback"] = fallback
        await self.events.emit(event_id=f"notif:{key_digest(key)}:resolved",
                               subject=entry["unit_id"], data=data)
        return Resolution(key, status, resolution)
