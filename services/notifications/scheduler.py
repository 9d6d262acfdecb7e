"""The scheduling pass: what is due at `clock.now()` for the units this worker owns.

Run every few seconds (real time) and on demand (POST /v1/admin/tick). A pass never
relies on having run at the right moment: it computes the one current stage of each
campaign (catch-up: the latest due stage, unless stale) and sends whatever of it the
ledger does not have yet. Passes of one process never overlap (a lock); passes of
several processes may, and the ledger makes that harmless."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace

from services.common import movements
from services.common.clock import Clock
from services.notifications import metrics
from services.notifications.abandoned import AbandonedClaims
from services.notifications.campaigns import CampaignInvalid, build_campaign, default_campaign
from services.notifications.domain import (
    EMAIL,
    SMS,
    VN_TZ,
    Campaign,
    DueStage,
    Stage,
    current_stage,
    digest_stage,
    entry_movement,
    escalation_targets,
    for_movement,
    ledger_key,
    quiet_until,
    recipients,
    stage_parts,
    unit_movement,
    unit_timezone,
)
from services.notifications.models import Wait
from services.notifications.ownership import Ownership
from services.notifications.reminder_sender import DIGEST_KIND, REMINDER_KIND, Job, Sender, iso
from services.notifications.resolver import UnknownOutcomes
from services.notifications.store import CampaignStore, LedgerStore, StatusStore

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
# Ledger states after which a pass has nothing more to do for a key.
OPEN_STATES = ("sending", "retrying")


@dataclass
class CampaignReport:
    period: int
    movement: str = movements.DEFAULT
    stage: str | None = None
    due_at: datetime | None = None
    paused: bool = False
    units: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


@dataclass
class PassReport:
    trigger: str
    now: datetime
    partitions: list[int]
    campaigns: list[CampaignReport] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)  # "key: status (resolution)"
    breakers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class SchedulerConfig:
    auto_campaign: bool = True
    # A round claim older than this whose round never started was abandoned.
    claim_timeout_seconds: float = 25.0
    concurrency: int = 8


class Scheduler:
    def __init__(self, *, clock: Clock, replica: Any, status: StatusStore,
                 campaigns: CampaignStore, ledger: LedgerStore, sender: Sender,
                 ownership: Ownership, abandoned: AbandonedClaims,
                 defaults: Mapping[str, Any], config: SchedulerConfig,
                 resolver: UnknownOutcomes | None = None) -> None:
        self.clock, self.replica, self.status = clock, replica, status
        self.campaigns, self.ledger, self.sender = campaigns, ledger, sender
        self.ownership, self.defaults, self.cfg = ownership, defaults, config
        self.abandoned = abandoned
        self.resolver = resolver  # unknown outcomes resolved, each pass
        self._lock = asyncio.Lock()
        self._settled: set[str] = set()  # keys the ledger has in a final state
        self._deferred: set[str] = set()  # waits already recorded
        self._known_periods: set[int] = set()

    async def run_pass(self, trigger: str = "timer") -> PassReport:
        async with self._lock:
            started = time.perf_counter()
            now = self.clock.now()
            report = PassReport(trigger=trigger, now=now,
                                partitions=sorted(self.ownership.partitions()))
            with tracer.start_as_current_span("notifications.pass", attributes={
                    "notification.trigger": trigger}):
                report.abandoned = await self.abandoned.reconcile()
                self._settled.update(report.abandoned)
                if self.resolver is not None:
                    report.resolved = [f"{r.key}: {r.status} ({r.resolution})"
                                       for r in await self.resolver.resolve()]
                if self.cfg.auto_campaign:
                    await self._ensure_campaign(now)
                pending = await self.ledger.pending()
                for doc in await self.campaigns.all():
                    try:
                        campaign = build_campaign(int(doc["period"]), doc)
                    except CampaignInvalid as exc:
                        log.error("stored campaign is invalid", extra={"fields": {
                            "period": doc.get("period"), "error": str(exc)}})
                        continue
                    mine = [p for p in pending if p.get("period") == campaign.period]
                    report.campaigns += await self._campaign(campaign, now, mine)
            report.breakers = self.sender.breaker_states()
            report.seconds = time.perf_counter() - started
            metrics.PASSES.labels(trigger).inc()
            metrics.PASS_SECONDS.labels(trigger).observe(report.seconds)
            return report

    def breaker_states(self) -> dict[str, str]:
        """The providers' circuit breakers (each pass reports them)."""
        return self.sender.breaker_states()

    def reset_breakers(self) -> dict[str, str]:
        """Close every provider's circuit; returns the breakers' states."""
        return self.sender.reset_breakers()

    async def _ensure_campaign(self, now: datetime) -> None:
        """The clock's year gets the default campaign, unless it has one already."""
        period = now.astimezone(VN_TZ).year
        if period in self._known_periods:
            return
        if await self.campaigns.get(period) is None and await self.campaigns.create(
                default_campaign(period, self.defaults, now)):
            log.info("default campaign created", extra={"fields": {"period": period}})
        self._known_periods.add(period)

    # -- one campaign ----------------------------------------------------------------------
    async def _campaign(self, campaign: Campaign, now: datetime,
                        pending: list[Wait]) -> list[CampaignReport]:
        """The period's campaign, run for each movement's units from that movement's
        deadline (issue 14: a reminder belongs to exactly one movement)."""
        runs = []
        for movement in movements.IDS:
            own = for_movement(campaign, movement,
                               await self.replica.deadline(movement, campaign.period))
            waits = [p for p in pending
                     if entry_movement(p["unit_id"], p["stage"]) == movement]
            due = current_stage(own, now)
            runs.append((own, due, waits, CampaignReport(
                period=campaign.period, movement=movement,
                stage=due.stage.name if due else None, due_at=due.due_at if due else None,
                paused=campaign.paused)))
        reports = [rep for *_, rep in runs]
        if campaign.paused or all(due is None and not waits for _, due, waits, _ in runs):
            return reports  # paused: what waits keeps waiting until the campaign resumes
        units = {u["_id"]: u for u in await self.replica.units(campaign.period)
                 if campaign.audience.includes(u["_id"], u.get("type", ""))}
        self.sender.units.update(units)
        submitted = await self.status.submitted(campaign.period)
        for own, due, waits, rep in runs:
            await self._pending(own, due, waits, submitted, units, rep)
            if due is None:
                continue
            members = {uid: u for uid, u in units.items()
                       if unit_movement(uid) == own.movement}
            mine = [u for uid, u in members.items()
                    if uid not in submitted and self.ownership.owns(uid)]
            rep.units = len(mine)
            await self._bounded([self._target(own, due, u, channel, recipient, now, rep)
                                 for u in mine
                                 for channel, recipient in recipients(u, own.channels)])
            if due.stage.escalate:
                await self._digests(own, due, members, submitted, rep)
        return reports

    async def _bounded(self, jobs: list[Awaitable[None]]) -> None:
        gate = asyncio.Semaphore(self.cfg.concurrency)

        async def run(job: Awaitable[None]) -> None:
            async with gate:
                try:
                    await job
                except Exception:
                    log.exception("a reminder job failed; the next pass retries it")

        await asyncio.gather(*(run(j) for j in jobs))

    async def _known(self, key: str) -> bool:
        """True if the ledger has the key (and remembers it when final)."""
        if key in self._settled or key in self.sender.inflight:
            return True
        entry = await self.ledger.get(key)
        if entry is None:
            return False
        if entry.get("status") not in OPEN_STATES:
            self._settled.add(key)
        elif entry.get("status") == "sending":
            self.abandoned.notice(entry)
        return True

    async def _target(self, campaign: Campaign, due: DueStage, unit: Mapping[str, Any],
                      channel: str, recipient: str, now: datetime, rep: CampaignReport
                      ) -> None:
        """One reminder of the current stage: nothing if the ledger has it, a wait in
        quiet hours (SMS), otherwise sent."""
        key = ledger_key(unit["_id"], campaign.period, due.stage.name, channel, recipient)
        if await self._known(key):
            return
        job = Job(key=key, campaign=campaign, stage=due.stage, stage_name=due.stage.name,
                  unit=unit, channel=channel, recipient=recipient)
        if channel == SMS:
            opens = quiet_until(now, campaign.quiet_hours, unit_timezone(unit, campaign.tz))
            if opens is not None:
                await self._defer(job, opens)
                rep.outcomes["deferred"] += 1
                return
        outcome = await self.sender.send(job)
        rep.outcomes[outcome] += 1
        if outcome not in ("retrying", "released"):
            self._settled.add(key)

    async def _defer(self, job: Job, opens: datetime) -> None:
        if job.key in self._deferred:
            return
        doc: Wait = {"_id": job.key, "reason": "quiet-hours", "not_before": opens,
               "unit_id": job.unit["_id"], "period": job.campaign.period,
               "stage": job.stage_name, "channel": job.channel, "recipient": job.recipient,
               "kind": job.kind, "deferred_at": self.clock.now()}
        if await self.ledger.defer(doc):
            metrics.REMINDERS.labels("deferred", job.kind, job.channel).inc()
            data = self.sender.notification(job, "deferred",
                                            "quiet hours: waits for the window to open")
            data["not_before"] = iso(opens)
            await self.sender.emit(job, "deferred", data)
        self._deferred.add(job.key)

    # -- what waits ------------------------------------------------------------------------
    def _job_of(self, campaign: Campaign, p: Wait,
                units: Mapping[str, Mapping[str, Any]]) -> Job:
        base = stage_parts(p["stage"])[0]
        stage = campaign.stage(base) or Stage(name=base, days=0, hour=0)
        unit = units.get(p["unit_id"]) or self.sender.units.get(p["unit_id"]) or {
            "_id": p["unit_id"]}
        return Job(key=p["_id"], campaign=campaign, stage=stage, stage_name=p["stage"],
                   unit=unit, channel=p["channel"], recipient=p["recipient"],
                   kind=p.get("kind", REMINDER_KIND), digest_units=tuple(p.get("units") or ()))

    async def _pending(self, campaign: Campaign, due: DueStage | None,
                       pending: list[Wait], submitted: Mapping[str, bool],
                       units: Mapping[str, Mapping[str, Any]], rep: CampaignReport) -> None:
        now = self.clock.now()
        for p in pending:
            if not self.ownership.owns(p["unit_id"]) or p["_id"] in self.sender.inflight:
                continue
            job = self._job_of(campaign, p, units)
            if job.kind == DIGEST_KIND and job.unit.get("contacts") is None:
                job = dataclasses.replace(
                    job, unit=await self.replica.unit(p["unit_id"]) or job.unit)
            if due is None or stage_parts(p["stage"])[0] != due.stage.name:
                await self._close(p, job, "skipped", "a later stage is due, or it is stale")
                rep.outcomes["skipped"] += 1
            elif job.kind == REMINDER_KIND and p["unit_id"] in submitted:
                await self._close(p, job, "cancelled", "the unit has reported")
                rep.outcomes["cancelled"] += 1
            elif p.get("reason") == "retry" and p["not_before"] <= now:
                rep.outcomes[await self._retry(job, p)] += 1

    async def _close(self, p: Wait, job: Job, status: str, detail: str) -> None:
        """End a wait without sending: the ledger records why."""
        await self.sender.close_wait(p, job, status, detail)
        self._deferred.discard(job.key)
        self._settled.add(job.key)

    async def _retry(self, job: Job, p: Wait) -> str:
        """A later round for a reminder whose providers all failed transiently; the
        round is claimed by inserting key#r<n>, so only one worker makes it."""
        round_no = int(p["round"])
        now = datetime.now(UTC)
        if not await self.ledger.claim_round(job.key, round_no, self.sender.instance, now):
            claim = await self.ledger.round_claim(job.key, round_no)
            entry = await self.ledger.get(job.key)
            stale = claim is not None and now - claim["claimed_at"] > timedelta(
                seconds=self.cfg.claim_timeout_seconds)
            if stale and entry is not None and entry.get("status") == "retrying" and int(
                    entry.get("round", 1)) < round_no:
                await self.abandoned.mark(entry)
                return "abandoned"
            return "taken"
        await self.ledger.update(job.key, {"status": "sending", "owner": self.sender.instance,
                                           "round": round_no, "claimed_at": now,
                                           "touched_at": now})
        await self.ledger.drop_deferral(job.key)
        outcome = await self.sender.send(job, round_no=round_no, claimed=True)
        if outcome not in ("retrying", "released"):
            self._settled.add(job.key)
        return outcome

    # -- escalation ------------------------------------------------------------------------
    async def _digests(self, campaign: Campaign, due: DueStage,
                       units: Mapping[str, Mapping[str, Any]], submitted: Mapping[str, bool],
                       rep: CampaignReport) -> None:
        overdue = [u for uid, u in units.items() if uid not in submitted]
        if not overdue:
            return
        clusters = await self.replica.clusters(campaign.period)
        stage_name = digest_stage(due.stage.name, campaign.movement)
        for rid, unit_ids in escalation_targets(overdue, clusters, campaign.escalation).items():
            if not self.ownership.owns(rid):
                continue
            recipient = await self.replica.unit(rid)
            if recipient is None:
                log.warning("escalation recipient not in the registry",
                            extra={"fields": {"recipient": rid}})
                continue
            for address in (recipient.get("contacts") or {}).get("emails") or []:
                key = ledger_key(rid, campaign.period, stage_name, EMAIL, address)
                if await self._known(key):
                    continue
                outcome = await self.sender.send(Job(
                    key=key, campaign=campaign, stage=due.stage, stage_name=stage_name,
                    unit=recipient, channel=EMAIL, recipient=address, kind=DIGEST_KIND,
                    digest_units=tuple(unit_ids)))
                rep.outcomes["digest-" + outcome] += 1
                if outcome not in ("retrying", "released"):
                    self._settled.add(key)
