"""What the notifications tests share: the service's objects on one database (the
in-memory one unless given), with fake providers, trace and Kafka producer."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from services.common.envelope import Event
from services.common.registry_replica import UNIT_EVENT, RegistryReplica
from services.notifications.abandoned import AbandonedClaims
from services.notifications.campaigns import (
    build_campaign,
    campaign_spec,
    load_defaults,
    with_overrides,
)
from services.notifications.delivery_reports import DeliveryReports
from services.notifications.dispatch import Dispatcher
from services.notifications.domain import VN_TZ
from services.notifications.outbox import EventLog
from services.notifications.ownership import Ownership
from services.notifications.providers import SendResult
from services.notifications.reminder_sender import Sender, SenderConfig
from services.notifications.resolver import TraceUnavailable, UnknownOutcomes
from services.notifications.scheduler import Scheduler, SchedulerConfig
from services.notifications.service import Notifications
from services.notifications.store import (
    Backfills,
    CampaignStore,
    LedgerStore,
    OutboxStore,
    StatusStore,
)
from services.notifications.templates import Templates
from services.submissions.registry import load_registry
from tests.fakes.clock import FixedClock
from tests.fakes.kafka import FakeProducer
from tests.fakes.mongo import FakeDatabase

PERIOD = 2040
UNITS = ["province:a", "province:b", "province:c"]
# Scans a pass may still make: the handful of campaigns and the live waits (see
# LedgerStore.pending), the small open_claims collection after a rebalance, and the small
# `unresolved` collection (unknown outcomes still to resolve: LedgerStore.unresolved).
ALLOWED_SCANS = {"campaigns", "deferrals", "open_claims", "unresolved"}


class Provider:
    def __init__(self, channel: str) -> None:
        self.channel, self.name = channel, f"fake-{channel}"
        self.sent: list[Any] = []

    async def send(self, message: Any) -> SendResult:
        self.sent.append(message)
        return SendResult(self.name, (f"{self.name}-{len(self.sent)}",))


class FakeTrace:
    """The SMTP relay's log by Message-ID: `found` holds the ids it took; `down` makes it
    unable to tell."""

    def __init__(self) -> None:
        self.found: set[str] = set()
        self.down = False
        self.asked: list[str] = []

    async def received(self, message_id: str) -> str | None:
        self.asked.append(message_id)
        if self.down:
            raise TraceUnavailable("connection refused")
        return "2040-11-27T03:00:00+00:00" if message_id in self.found else None


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(PERIOD, 11, day, hour, minute, tzinfo=VN_TZ)


def unit_doc(uid: str, n: int) -> dict[str, Any]:
    return {"type": "province", "name": f"Tỉnh {uid}", "name_en": f"{uid} Province",
            "valid_from": 2025, "contacts": {"emails": [f"u{n}@example.vn"],
                                             "phones": [f"+8499000000{n}"]}}


class World:
    """The service's objects (stores, sender, scheduler, service) on `db` (in-memory
    unless given: the integration test passes the stack's database), with fake
    providers and Kafka producer, owning every partition."""

    def __init__(self, when: datetime, db: Any = None, units: list[str] = UNITS) -> None:
        self.db = FakeDatabase() if db is None else db
        db = self.db
        self.unit_ids = units
        self.clock = FixedClock(when)
        self.replica = RegistryReplica(db)
        backfills = Backfills(db)
        self.status = StatusStore(db, backfills)
        self.campaign_store = CampaignStore(db)
        self.ledger = LedgerStore(db, backfills)
        self.producer = FakeProducer()
        self.events = EventLog(producer=self.producer, outbox=OutboxStore(db), source="test")
        self.email, self.sms = Provider("email"), Provider("sms")
        self.sender = Sender(
            clock=self.clock, status=self.status, campaigns=self.campaign_store,
            ledger=self.ledger, events=self.events,
            dispatcher=Dispatcher({"email": [self.email], "sms": [self.sms]}),
            templates=Templates(), delivery_reports=DeliveryReports(
                clock=self.clock, ledger=self.ledger, events=self.events),
            config=SenderConfig(instance="me"))
        self.ownership = Ownership("emulation.units.v1", 6)
        self.ownership.assign([type("TP", (), {"topic": "emulation.units.v1", "partition": p})()
                               for p in range(6)])
        self.abandoned = AbandonedClaims(ledger=self.ledger, events=self.events,
                                         ownership=self.ownership, inflight=self.sender.inflight,
                                         timeout_seconds=25)
        defaults = load_defaults()
        self.trace = FakeTrace()
        self.resolver = UnknownOutcomes(
            clock=self.clock, ledger=self.ledger, campaigns=self.campaign_store,
            status=self.status, replica=self.replica, sender=self.sender, events=self.events,
            ownership=self.ownership, trace=self.trace, grace_seconds=0)
        self.scheduler = Scheduler(
            clock=self.clock, replica=self.replica, status=self.status,
            campaigns=self.campaign_store, ledger=self.ledger, sender=self.sender,
            ownership=self.ownership, abandoned=self.abandoned, defaults=defaults,
            config=SchedulerConfig(auto_campaign=False), resolver=self.resolver)
        self.service = Notifications(store=self.status, replica=self.replica,
                                     campaigns=self.campaign_store, ledger=self.ledger,
                                     sender=self.sender, defaults=defaults, clock=self.clock)
        self.defaults = defaults

    async def setup(self) -> None:
        for n, uid in enumerate(self.unit_ids):
            await self.replica.apply(Event(id=f"e{n}", type=UNIT_EVENT, source="t", subject=uid,
                                           time="", dataschema="", data=unit_doc(uid, n)))
        await self.campaign_store.create(campaign_spec(build_campaign(PERIOD, self.defaults)))

    def submission(self, uid: str, revision: int = 1, on_time: bool = True) -> Event:
        return Event(id=f"s-{uid}-{revision}", type="vn.emulation.submission.accepted",
                     source="t", subject=uid, time="", dataschema="",
                     data={"unit_id": uid, "period": PERIOD, "submission_id": f"{uid}#{revision}",
                           "received_at": "2040-11-20T00:00:00Z", "on_time": on_time,
                           "revision": revision})

    def scans(self) -> set[str]:
        return {c[0] for c in self.db.scans()}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


CAMPAIGN = with_overrides(2040, load_defaults(), {})  # the defaults, for the templates


def units() -> list[dict[str, Any]]:
    """The registry's units as the templates take them."""
    return [{"_id": u.unit_id, "name": u.name, "name_en": u.name_en, "type": u.type,
             "contacts": {"language": u.contacts.language}}
            for u in load_registry().all_units()]
