"""Sending one reminder or digest under the ledger's rules:

1. claim: insert the ledger entry (deterministic `_id`); a duplicate key means another
   worker, an earlier pass or a redelivered record has it: stop.
2. check again just before sending: has the unit reported? is the campaign paused?
3. hand it to the channel's providers (dispatch.py), recording every attempt in the
   entry and as an event;
4. mark the outcome: sent, failed (with SMS-to-e-mail fallback, or a later retry round
   for transient failures) or unknown (never resent).

A worker that dies between 1 and 4 leaves an entry in `sending`; `reconcile` marks such
entries `unknown` (and reports them) once their owner has had time to finish."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Unpack

from opentelemetry import trace

from services.common.clock import Clock
from services.common.contracts import Notification
from services.notifications import metrics
from services.notifications.delivery_reports import DeliveryReports
from services.notifications.dispatch import SENT, SKIPPED, UNKNOWN, Attempt, Delivery, Dispatcher
from services.notifications.domain import (
    EMAIL,
    SMS,
    Campaign,
    Stage,
    concat_reference,
    entry_movement,
    key_digest,
    ledger_key,
    message_id,
)
from services.notifications.models import AttemptRecord, LedgerEntry, Wait
from services.notifications.outbox import EventLog
from services.notifications.providers import Email, Message, Sms
from services.notifications.store import CampaignStore, LedgerStore, StatusStore
from services.notifications.templates import (
    TemplateError,
    Templates,
    digest_values,
    language_of,
    reminder_values,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
REMINDER_KIND, DIGEST_KIND = "reminder", "digest"


@dataclass(frozen=True)
class SenderConfig:
    instance: str  # this process; owner of its claims
    email_domain: str = "notifications.emulation.example"
    retry_rounds: int = 3
    retry_backoff_seconds: float = 60.0


# A claim goes untouched at most this long besides one provider try and its backoff:
# the checks before sending, or a try's event (a Kafka produce and the outbox insert), a
# few database or Kafka operations at their 10 s timeouts.
CLAIM_MARGIN_SECONDS = 30.0
# Checks slower than this touch the claim before the first try.
TOUCH_BEFORE_SENDING_SECONDS = 5.0


def required_claim_timeout(dispatcher: Dispatcher) -> float:
    """The shortest claim timeout under which no claim can be taken for abandoned while
    its send may still be in progress: the longest provider try (from the providers'
    timeouts), its backoff and the margin. A sender touches its claim before the first
    try when its checks were slow, and after every failed try."""
    return dispatcher.longest_attempt_seconds() + CLAIM_MARGIN_SECONDS


def claim_timeout(configured: float | None, dispatcher: Dispatcher) -> float:
    """The claim timeout to use: `configured` (EMULATION_CLAIM_TIMEOUT_SECONDS) or, when
    unset, the shortest safe one. A configured one shorter than that is refused at
    startup: a claim could be marked `unknown` while its send is still in progress."""
    required = required_claim_timeout(dispatcher)
    if configured is None:
        return required
    if configured < required:
        raise ValueError(
            f"EMULATION_CLAIM_TIMEOUT_SECONDS={configured:g} is shorter than the longest "
            f"send can leave a claim untouched ({required:g} s, from the providers' "
            "timeouts): raise it, lower the providers' timeouts, or leave it unset")
    return configured


@dataclass(frozen=True)
class Job:
    """One reminder (or digest) to one recipient over one channel."""

    key: str
    campaign: Campaign
    stage: Stage  # the campaign's stage (for a digest: the overdue stage it reports)
    stage_name: str  # the ledger's stage (`<stage>-digest` for a digest)
    unit: Mapping[str, Any]  # the unit reminded, or the digest's recipient
    channel: str
    recipient: str
    kind: str = REMINDER_KIND
    digest_units: tuple[str, ...] = ()
    # Set on a reminder sent again by the other channel: the ledger key of the one whose
    # outcome is unknown (resolver.py). Its text says it may arrive twice.
    fallback_of: str | None = None


def iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when else None


class Sender:
    def __init__(self, *, clock: Clock, status: StatusStore, campaigns: CampaignStore,
                 ledger: LedgerStore, events: EventLog, dispatcher: Dispatcher,
                 templates: Templates, delivery_reports: DeliveryReports,
                 config: SenderConfig) -> None:
        self.clock, self.status, self.campaigns = clock, status, campaigns
        self.ledger, self.events, self.dispatcher = ledger, events, dispatcher
        self.templates, self.delivery_reports, self.cfg = templates, delivery_reports, config
        self.inflight: set[str] = set()
        # Unit documents the digests name (the scheduler refreshes them each pass).
        self.units: dict[str, Mapping[str, Any]] = {}

    @property
    def instance(self) -> str:
        """This process: the owner of its claims."""
        return self.cfg.instance

    def breaker_states(self) -> dict[str, str]:
        """The providers' circuit breakers: closed, open or half-open."""
        return self.dispatcher.breaker_states()

    def reset_breakers(self) -> dict[str, str]:
        """Close every provider's circuit (an operator has fixed a provider)."""
        return self.dispatcher.reset_breakers()

    # -- the ledger entry and its events ---------------------------------------------------
    def entry(self, job: Job, status: str, /, **fields: Unpack[LedgerEntry]) -> LedgerEntry:
        now = datetime.now(UTC)
        return {
            "_id": job.key, "unit_id": job.unit["_id"], "period": job.campaign.period,
            "stage": job.stage_name, "channel": job.channel, "recipient": job.recipient,
            "kind": job.kind, "status": status, "owner": self.cfg.instance, "round": 1,
            "claimed_at": now, "touched_at": now, "at": self.clock.now(), "sent_at": None,
            "provider": None, "provider_ids": [], "attempts": [], "detail": "",
            "units": list(job.digest_units),
            # Tells this claim from another's: an insert whose reply was lost is ours.
            "claim_token": uuid.uuid4().hex,
            # Known before sending, so even an abandoned claim names its e-mail.
            "message_id": message_id(job.key, self.cfg.email_domain)
            if job.channel == EMAIL else None,
            **({"fallback_of": job.fallback_of,
                "note": self.templates.twice_note(language_of(job.unit))}
               if job.fallback_of else {}),
            **fields,
        }

    def notification(self, job: Job, status: str, detail: str | None = None) -> Notification:
        """The job's event data (notification.v2) with its new status; the caller adds
        what else it knows (provider, attempt, times)."""
        data: Notification = {
            "unit_id": job.unit["_id"], "period": job.campaign.period,
            "stage": job.stage_name, "channel": job.channel, "recipient": job.recipient,
            "status": status, "kind": job.kind,
            "movement": entry_movement(job.unit["_id"], job.stage_name)}
        if job.digest_units:
            data["units"] = list(job.digest_units)
        if job.fallback_of:
            data["fallback_of"] = job.fallback_of
        if detail is not None:
            data["detail"] = detail
        return data

    async def emit(self, job: Job, suffix: str, data: Notification) -> None:
        """Produce the job's event; `suffix` tells its events apart (the event id)."""
        await self.events.emit(event_id=f"notif:{key_digest(job.key)}:{suffix}",
                               subject=job.unit["_id"], data=data)

    # -- sending ---------------------------------------------------------------------------
    async def send(self, job: Job, round_no: int = 1, claimed: bool = False) -> str:
        """Claim (unless a retry round already did), check, send, mark; returns the
        outcome: sent, failed, retrying, unknown, cancelled, released or taken."""
        if not claimed and not await self.ledger.claim(self.entry(job, "sending")):
            return "taken"
        self.inflight.add(job.key)
        claimed_at = time.monotonic()
        dispatched = False
        delivery: Delivery | None = None
        try:
            with tracer.start_as_current_span("notifications.send", attributes={
                    "notification.kind": job.kind, "notification.channel": job.channel,
                    "notification.stage": job.stage_name,
                    "emulation.period": job.campaign.period}):
                reason, job = await self._check(job)
                if reason == "paused":
                    # Nothing went out: give the claim back so a resume sends it.
                    await self.ledger.release(job.key, self.cfg.instance)
                    return "released"
                if reason is not None:
                    await self.finish(job, "cancelled", reason)
                    return "cancelled"
                try:
                    message = self.render(job)
                except TemplateError as exc:  # an operator's template: no pass fixes it
                    await self.finish(job, "failed", f"template: {exc}")
                    return "failed"
                if time.monotonic() - claimed_at > TOUCH_BEFORE_SENDING_SECONDS:
                    # The checks were slow (a loaded database): the tries start fresh.
                    await self.ledger.update(job.key, {"touched_at": datetime.now(UTC)},
                                             owner=self.cfg.instance)
                dispatched = True
                delivery = await self.dispatcher.deliver(
                    job.channel, message, on_attempt=self._attempt_recorder(job, round_no))
                return await self._settle(job, delivery, round_no, message)
        except Exception:
            log.exception("sending a reminder failed", extra={"fields": {"key": job.key}})
            if not dispatched:  # nothing went out: the next pass may try again
                await self.ledger.release(job.key, self.cfg.instance)
                return "released"
            # Whatever failed, a reminder that may have gone out is never resent; if the
            # provider's answer is known it stays recorded.
            known = delivery is not None and delivery.outcome == SENT
            if not known:
                await self.finish(job, UNKNOWN, "the send was interrupted; not resent",
                                  unknown_reason="interrupted")
                metrics.UNKNOWN_OUTCOMES.labels(job.channel, "interrupted").inc()
            return SENT if known else UNKNOWN
        finally:
            self.inflight.discard(job.key)

    async def _check(self, job: Job) -> tuple[str | None, Job]:
        """Why not to send after all (None: send), just before sending."""
        campaign = await self.campaigns.get(job.campaign.period)
        if campaign is None or campaign.get("paused"):
            return "paused", job
        if job.kind == REMINDER_KIND and await self._reported(job.unit["_id"],
                                                              job.campaign.period):
            return "the unit has reported", job
        if job.kind == DIGEST_KIND:
            missing = [u for u in job.digest_units
                       if not await self._reported(u, job.campaign.period)]
            if not missing:
                return "every unit of the digest has reported", job
            if len(missing) != len(job.digest_units):
                await self.ledger.update(job.key, {"units": missing})
                job = dataclasses.replace(job, digest_units=tuple(missing))
        return None, job

    async def _reported(self, unit_id: str, period: int) -> bool:
        """The unit's own status document (by `_id`). A report found here that the pass
        did not know of (it came meanwhile, or the period's document lost the write to
        a concurrent update on FerretDB) is added to the period's document again."""
        doc = await self.status.of_unit(unit_id, period)
        if doc is None:
            return False
        await self.status.note(unit_id, period, bool(doc.get("on_time")))
        return True

    def render(self, job: Job) -> Message:
        lang = language_of(job.unit)
        now = self.clock.now()
        if job.kind == DIGEST_KIND:
            units = [self._unit_doc(u) for u in job.digest_units]
            rendered = self.templates.digest(lang=lang, values=digest_values(
                recipient=job.unit, units=units, campaign=job.campaign, stage=job.stage,
                now=now, lang=lang))
        else:
            values = reminder_values(unit=job.unit, campaign=job.campaign, stage=job.stage,
                                     now=now, lang=lang)
            render = self.templates.fallback if job.fallback_of else self.templates.reminder
            rendered = render(lang=lang, stage=job.stage, channel=job.channel, values=values)
        if job.channel == SMS:
            return Sms(key=job.key, to=job.recipient, text=rendered.body,
                       reference=concat_reference(job.key))
        return Email(key=job.key, to=job.recipient, subject=rendered.subject or "",
                     body=rendered.body, message_id=message_id(job.key, self.cfg.email_domain),
                     date=now, headers={"X-Emulation-Unit": job.unit["_id"],
                                        "X-Emulation-Period": str(job.campaign.period),
                                        "X-Emulation-Stage": job.stage_name,
                                        "Content-Language": lang})

    def _unit_doc(self, unit_id: str) -> Mapping[str, Any]:
        return self.units.get(unit_id) or {"_id": unit_id, "name": unit_id}

    def _attempt_recorder(self, job: Job, round_no: int) -> Any:
        count = 0

        async def record(attempt: Attempt) -> None:
            nonlocal count
            if attempt.outcome == SKIPPED:
                return  # a provider whose circuit is open was not tried
            count += 1
            status = attempt.outcome if attempt.outcome in (SENT, UNKNOWN) else "failed"
            if status == "failed":
                # Another try may follow: keep the claim fresh first (the event may take
                # a while), so no untouched span is longer than one try and its backoff.
                await self.ledger.update(job.key, {"touched_at": datetime.now(UTC)},
                                         owner=self.cfg.instance)
            data = self.notification(job, status, attempt.detail[:500] or None)
            data["provider"], data["attempt"], data["round"] = attempt.provider, count, round_no
            if status == SENT:
                data["sent_at"] = iso(self.clock.now())
            await self.emit(job, f"{round_no}.{count}", data)

        return record

    async def _settle(self, job: Job, delivery: Delivery, round_no: int, message: Message
                      ) -> str:
        attempts: list[AttemptRecord] = [
            {"provider": a.provider, "outcome": a.outcome, "detail": a.detail[:300],
             "round": round_no} for a in delivery.attempts]
        history = attempts
        if round_no > 1:  # keep the earlier rounds' attempts
            earlier = await self.ledger.get(job.key)
            history = (earlier.get("attempts", []) if earlier else []) + attempts
        if delivery.outcome == SENT and delivery.result is not None:
            result = delivery.result
            await self.ledger.update(job.key, {
                "status": SENT, "sent_at": self.clock.now(), "provider": result.provider,
                "provider_ids": list(result.message_ids), "attempts": history,
                "detail": result.detail,
                "touched_at": datetime.now(UTC)})
            metrics.REMINDERS.labels(SENT, job.kind, job.channel).inc()
            if job.channel == SMS or round_no > 1:  # only these can have waited
                await self.ledger.drop_deferral(job.key)
            if result.provider in self.delivery_reports.providers:
                await self.delivery_reports.sent(job.key, result.provider, list(result.message_ids))
            return SENT
        if delivery.outcome == UNKNOWN:
            log.warning("reminder outcome unknown: not resent", extra={"fields": {
                "key": job.key, "detail": delivery.attempts[-1].detail}})
            await self.ledger.update(job.key, {
                "status": UNKNOWN, "attempts": history, "provider": delivery.attempts[-1].provider,
                "detail": delivery.attempts[-1].detail[:500], "unknown_reason": "provider",
                "touched_at": datetime.now(UTC)})
            metrics.REMINDERS.labels(UNKNOWN, job.kind, job.channel).inc()
            metrics.UNKNOWN_OUTCOMES.labels(job.channel, "provider").inc()
            if job.channel == SMS or round_no > 1:  # a wait ends with its entry
                await self.ledger.drop_deferral(job.key)
            return UNKNOWN
        detail = "; ".join(f"{a.provider}: {a.detail}" for a in delivery.attempts)[:800]
        if job.channel == SMS and job.kind == REMINDER_KIND:
            emails = (job.unit.get("contacts") or {}).get("emails") or []
            if emails:
                fallback = await self._fallback(job, emails[0])
                await self.ledger.update(job.key, {
                    "status": "failed", "attempts": history, "fallback": f"email:{emails[0]}",
                    "detail": f"every SMS provider failed ({detail}); e-mail {fallback}"})
                await self.ledger.drop_deferral(job.key)  # a wait ends with its entry
                metrics.REMINDERS.labels("fallback", job.kind, job.channel).inc()
                return "failed"
        # A round in which every circuit was open tried nothing: it does not count.
        if delivery.retryable and (round_no < self.cfg.retry_rounds or not delivery.tried):
            # On the campaign's clock (real time in production), so tests can move it.
            not_before = self.clock.now() + timedelta(
                seconds=self.cfg.retry_backoff_seconds * 2 ** (round_no - 1))
            await self.ledger.update(job.key, {"status": "retrying", "attempts": history,
                                               "detail": detail, "not_before": not_before})
            metrics.REMINDERS.labels("retrying", job.kind, job.channel).inc()
            await self.ledger.replace_deferral({
                "_id": job.key, "reason": "retry", "round": round_no + 1,
                "not_before": not_before, "unit_id": job.unit["_id"],
                "period": job.campaign.period, "stage": job.stage_name,
                "channel": job.channel, "recipient": job.recipient, "kind": job.kind,
                "units": list(job.digest_units)})
            return "retrying"
        await self.finish(job, "failed", detail, attempts=history, emit=False)
        return "failed"

    async def _fallback(self, job: Job, address: str) -> str:
        """An SMS that no provider took goes to the unit's first e-mail address, as that
        stage's e-mail reminder; if that is already claimed the unit has it."""
        key = ledger_key(job.unit["_id"], job.campaign.period, job.stage_name, EMAIL, address)
        fallback = Job(key=key, campaign=job.campaign, stage=job.stage,
                       stage_name=job.stage_name, unit=job.unit, channel=EMAIL,
                       recipient=address)
        outcome = await self.send(fallback)
        return "already sent" if outcome == "taken" else outcome

    async def finish(self, job: Job, status: str, detail: str, /, *, emit: bool = True,
                     **fields: Unpack[LedgerEntry]) -> None:
        await self.ledger.update(job.key, {"status": status, "detail": detail[:800],
                                           "touched_at": datetime.now(UTC), **fields})
        await self.ledger.drop_deferral(job.key)
        metrics.REMINDERS.labels(status, job.kind, job.channel).inc()
        if emit:
            await self.emit(job, status, self.notification(job, status, detail[:500]))

    async def close_wait(self, wait: Wait, job: Job, status: str, detail: str) -> None:
        """End a wait (quiet hours or retry) without sending: skipped or cancelled."""
        if wait.get("reason") == "retry":
            await self.finish(job, status, detail)
            return
        if await self.ledger.claim(self.entry(job, status, detail=detail)):
            metrics.REMINDERS.labels(status, job.kind, job.channel).inc()
            await self.emit(job, status, self.notification(job, status, detail))
        await self.ledger.drop_deferral(job.key)
