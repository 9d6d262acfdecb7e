"""Composition root of the notifications service: the one place adapters are wired."""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from services.common.registry_replica import REPLICA_DOCUMENTS, RegistryReplica
from services.common.runtime import build_runtime, http_app
from services.common.topics import TOPICS, UNITS
from services.notifications import agents
from services.notifications.abandoned import AbandonedClaims
from services.notifications.api import build_router
from services.notifications.api_milestones import build_milestone_router
from services.notifications.campaigns import load_defaults
from services.notifications.delivery_reports import DeliveryReports
from services.notifications.dispatch import Dispatcher
from services.notifications.milestone import Milestones
from services.notifications.outbox import EventLog
from services.notifications.ownership import Ownership
from services.notifications.providers import HttpSmsProvider, Provider, SmtpProvider
from services.notifications.reminder_sender import Sender, SenderConfig, claim_timeout
from services.notifications.resolver import HttpMessageTrace, UnknownOutcomes
from services.notifications.scheduler import Scheduler, SchedulerConfig
from services.notifications.schema import DOCUMENTS
from services.notifications.service import Notifications
from services.notifications.settings import NotificationsSettings
from services.notifications.smpp import SmppProvider
from services.notifications.store import (
    Backfills,
    CampaignStore,
    LedgerStore,
    OutboxStore,
    StatusStore,
)
from services.notifications.templates import Templates


def sms_providers(settings: NotificationsSettings, smpp: SmppProvider) -> list[Provider]:
    chain: list[Provider] = []
    for name in (n.strip() for n in settings.sms_providers.split(",") if n.strip()):
        if name == "smpp":
            chain.append(smpp)
        elif name == "http-sms" and settings.http_sms_url:
            chain.append(HttpSmsProvider(settings.http_sms_url, settings.smpp_source_addr,
                                         settings.http_sms_timeout_seconds))
        elif name != "http-sms":
            raise ValueError(f"unknown SMS provider {name!r} (smpp, http-sms)")
    return chain


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    rt = build_runtime(settings, DOCUMENTS + REPLICA_DOCUMENTS)
    defaults = load_defaults(settings.campaign_defaults_file)
    replica = RegistryReplica(rt.db)
    backfills = Backfills(rt.db)
    status, campaign_store = StatusStore(rt.db, backfills), CampaignStore(rt.db)
    ledger = LedgerStore(rt.db, backfills)
    events = EventLog(producer=rt.producer, outbox=OutboxStore(rt.db), source=rt.source)
    delivery_reports = DeliveryReports(clock=rt.clock, ledger=ledger, events=events)
    smpp = SmppProvider(settings.smpp_host, settings.smpp_port,
                        system_id=settings.smpp_system_id, password=settings.smpp_password,
                        source_addr=settings.smpp_source_addr,
                        timeout=settings.smpp_timeout_seconds,
                        enquire_link_seconds=settings.smpp_enquire_link_seconds)
    dispatcher = Dispatcher(
        {"email": [SmtpProvider(settings.smtp_host, settings.smtp_port, settings.smtp_sender,
                                settings.smtp_timeout_seconds)],
         "sms": sms_providers(settings, smpp)},
        attempts_per_provider=settings.provider_attempts,
        backoff_seconds=settings.provider_backoff_seconds,
        breaker_failures=settings.breaker_failures,
        breaker_cooldown=settings.breaker_cooldown_seconds)
    claim_timeout_seconds = claim_timeout(settings.claim_timeout_seconds, dispatcher)
    sender = Sender(clock=rt.clock, status=status, campaigns=campaign_store, ledger=ledger,
                    events=events, dispatcher=dispatcher,
                    templates=Templates(settings.templates_dir),
                    delivery_reports=delivery_reports,
                    config=SenderConfig(instance=f"{settings.service_name}-{uuid.uuid4().hex[:12]}",
                                        email_domain=settings.email_domain,
                                        retry_rounds=settings.retry_rounds,
                                        retry_backoff_seconds=settings.retry_backoff_seconds))
    ownership = Ownership(UNITS, next(t.partitions for t in TOPICS if t.name == UNITS))
    ownership.connect(rt.faust_app)
    abandoned = AbandonedClaims(ledger=ledger, events=events, ownership=ownership,
                                inflight=sender.inflight,
                                timeout_seconds=claim_timeout_seconds)
    resolver = UnknownOutcomes(
        clock=rt.clock, ledger=ledger, campaigns=campaign_store, status=status,
        replica=replica, sender=sender, events=events, ownership=ownership,
        trace=HttpMessageTrace(settings.smtp_trace_url, settings.smtp_trace_timeout_seconds)
        if settings.smtp_trace_url else None, grace_seconds=settings.unknown_grace_seconds)
    scheduler = Scheduler(
        clock=rt.clock, replica=replica, status=status, campaigns=campaign_store, ledger=ledger,
        sender=sender, ownership=ownership, abandoned=abandoned, defaults=defaults,
        config=SchedulerConfig(auto_campaign=settings.auto_campaign,
                               claim_timeout_seconds=claim_timeout_seconds,
                               concurrency=settings.send_concurrency), resolver=resolver)
    service = Notifications(store=status, replica=replica, campaigns=campaign_store,
                            ledger=ledger, sender=sender, defaults=defaults, clock=rt.clock)
    milestones = Milestones(db=rt.db, clock=rt.clock, dispatcher=dispatcher,
                            recipients=settings.synthesis_recipients,
                            email_domain=settings.email_domain)
    agents.register(rt, settings, service=service, replica=replica, scheduler=scheduler,
                    events=events, milestones=milestones, delivery_reports=delivery_reports,
                    smpp=smpp)

    app = http_app(rt, "Notifications service")
    app.include_router(build_router(service, scheduler))
    app.include_router(build_milestone_router(milestones))
    app.state.scheduler = scheduler
    return app

