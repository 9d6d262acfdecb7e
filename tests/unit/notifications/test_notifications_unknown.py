"""Unknown outcomes are counted (notification_unknown_outcomes_total{channel,reason}, which
the ReminderOutcomeUnknown alert watches) and shown on the reminder (`unknown_reason` in
the ledger entry and in GET /v1/notifications), whichever way they arise."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY

from services.notifications.api import notification_read
from services.notifications.dispatch import Dispatcher
from services.notifications.domain import ledger_key
from services.notifications.providers import SendResult, UnknownOutcome
from tests.unit.notifications_support import PERIOD, World, local


def unknowns(channel: str, reason: str) -> float:
    value = REGISTRY.get_sample_value("notification_unknown_outcomes_total",
                                      {"channel": channel, "reason": reason})
    return value or 0.0


def test_every_channel_and_reason_starts_at_zero() -> None:
    # A counter first seen at 1 shows no increase() in Prometheus: the alert would miss it.
    for channel in ("email", "sms"):
        for reason in ("provider", "abandoned", "interrupted"):
            assert REGISTRY.get_sample_value("notification_unknown_outcomes_total",
                                             {"channel": channel, "reason": reason}) is not None


class Silent:
    """An SMTP server that took DATA and never answered."""

    channel, name = "email", "silent"

    async def send(self, message: Any) -> SendResult:
        raise UnknownOutcome(self.name, "during DATA: timed out")


def test_a_provider_that_does_not_answer_is_counted_and_shown() -> None:
    async def go() -> None:
        w = World(local(27, 10), units=["province:a"])
        await w.setup()
        w.sender.dispatcher = Dispatcher({"email": [Silent()], "sms": []})
        before = unknowns("email", "provider")
        await w.scheduler.run_pass("test")
        [entry] = [e for e in w.db["ledger"].docs.values() if e["channel"] == "email"]
        assert entry["status"] == "unknown" and entry["unknown_reason"] == "provider"
        assert unknowns("email", "provider") == before + 1
        shown = notification_read(entry)
        assert shown.status == "unknown" and shown.unknown_reason == "provider"
        assert "DATA" in (shown.detail or "")

    asyncio.run(go())


class Broken:
    """A provider whose adapter fails in an unforeseen way, after it was handed the
    message (not a send error it classifies)."""

    channel, name = "email", "broken"

    async def send(self, message: Any) -> SendResult:
        raise RuntimeError("the adapter broke half way")


def test_an_interrupted_send_is_counted_and_shown() -> None:
    async def go() -> None:
        w = World(local(27, 10), units=["province:a"])
        await w.setup()
        w.sender.dispatcher = Dispatcher({"email": [Broken()], "sms": []})
        before = unknowns("email", "interrupted")
        await w.scheduler.run_pass("test")
        [entry] = [e for e in w.db["ledger"].docs.values() if e["channel"] == "email"]
        assert entry["status"] == "unknown" and entry["unknown_reason"] == "interrupted"
        assert unknowns("email", "interrupted") == before + 1

    asyncio.run(go())


def test_an_abandoned_claim_is_counted_and_shown() -> None:
    async def go() -> None:
        w = World(local(27, 10))
        old = datetime.now(UTC) - timedelta(minutes=5)
        dead = ledger_key("province:a", PERIOD, "d-3", "sms", "+84990000000")
        await w.ledger.claim({"_id": dead, "unit_id": "province:a", "period": PERIOD,
                              "stage": "d-3", "channel": "sms", "recipient": "+84990000000",
                              "status": "sending", "owner": "gone", "touched_at": old})
        before = unknowns("sms", "abandoned")
        assert await w.abandoned.reconcile() == [dead]
        entry = w.db["ledger"].docs[dead]
        assert entry["status"] == "unknown" and entry["unknown_reason"] == "abandoned"
        assert unknowns("sms", "abandoned") == before + 1
        assert notification_read(entry).unknown_reason == "abandoned"

    asyncio.run(go())
