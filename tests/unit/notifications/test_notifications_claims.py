"""Claim timeouts exceed the worst send: the timeout is derived from the providers'
timeouts (a configured one shorter than that is refused at startup), and a sender keeps
its claim fresh (before the first try when its checks were slow, after every failed
try), so no claim is taken for abandoned while its send may still be in progress."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from services.notifications import reminder_sender as sender_module
from services.notifications.bootstrap import sms_providers
from services.notifications.dispatch import Dispatcher
from services.notifications.providers import (
    SMTP_STEPS,
    HttpSmsProvider,
    SendResult,
    SmtpProvider,
    TransientSendError,
    worst_attempt_seconds,
)
from services.notifications.reminder_sender import (
    CLAIM_MARGIN_SECONDS,
    claim_timeout,
    required_claim_timeout,
)
from services.notifications.settings import NotificationsSettings
from services.notifications.smpp import MAX_PARTS, SmppProvider
from tests.unit.notifications_support import World, local


def dispatcher_of(settings: NotificationsSettings) -> Dispatcher:
    """The providers as bootstrap builds them (nothing connects until a send)."""
    smpp = SmppProvider(settings.smpp_host, settings.smpp_port,
                        system_id=settings.smpp_system_id, password=settings.smpp_password,
                        source_addr=settings.smpp_source_addr,
                        timeout=settings.smpp_timeout_seconds)
    return Dispatcher(
        {"email": [SmtpProvider(settings.smtp_host, settings.smtp_port, settings.smtp_sender,
                                settings.smtp_timeout_seconds)],
         "sms": sms_providers(settings, smpp)},
        attempts_per_provider=settings.provider_attempts,
        backoff_seconds=settings.provider_backoff_seconds)


def test_the_default_claim_timeout_exceeds_every_providers_worst_try() -> None:
    settings = NotificationsSettings()
    assert settings.claim_timeout_seconds is None  # derived, no longer a fixed 25 s
    dispatcher = dispatcher_of(settings)
    timeout = claim_timeout(settings.claim_timeout_seconds, dispatcher)
    assert timeout == required_claim_timeout(dispatcher)
    smtp_worst = SMTP_STEPS * settings.smtp_timeout_seconds
    assert smtp_worst >= 4 * settings.smtp_timeout_seconds  # the four commands
    smpp_worst = MAX_PARTS * 4 * settings.smpp_timeout_seconds
    for worst in (smtp_worst, smpp_worst, 3 * settings.http_sms_timeout_seconds):
        assert timeout >= worst + CLAIM_MARGIN_SECONDS
    assert timeout > 25  # the old fixed value was shorter than one SMTP try


def test_a_configured_claim_timeout_shorter_than_a_send_is_refused_at_startup() -> None:
    dispatcher = dispatcher_of(NotificationsSettings())
    with pytest.raises(ValueError, match="EMULATION_CLAIM_TIMEOUT_SECONDS=25"):
        claim_timeout(25.0, dispatcher)
    assert claim_timeout(600.0, dispatcher) == 600.0
    # Shorter provider timeouts allow a shorter claim timeout.
    quick = dispatcher_of(NotificationsSettings(smtp_timeout_seconds=2.0,
                                                smpp_timeout_seconds=2.0,
                                                http_sms_timeout_seconds=2.0))
    assert required_claim_timeout(quick) < required_claim_timeout(dispatcher)


def test_the_bound_follows_the_providers_and_the_backoff() -> None:
    smtp = SmtpProvider("h", 1, "a@b.example", timeout=10.0)
    http = HttpSmsProvider("http://127.0.0.1:1/sms", "S", timeout=10.0)
    assert worst_attempt_seconds(smtp) == SMTP_STEPS * 10.0
    assert worst_attempt_seconds(http) == 30.0
    dispatcher = Dispatcher({"email": [smtp], "sms": [http]}, attempts_per_provider=3,
                            backoff_seconds=1.0)
    assert dispatcher.longest_attempt_seconds() == SMTP_STEPS * 10.0 + 2.0


class SlowlyFailing:
    """An e-mail provider that fails transiently once, then takes it; at each try it
    notes the claim's `touched_at` as the database holds it."""

    channel, name = "email", "flaky"

    def __init__(self, world: World) -> None:
        self.world = world
        self.seen: list[Any] = []

    async def send(self, message: Any) -> SendResult:
        entry = self.world.db["ledger"].docs[message.key]
        self.seen.append(copy.deepcopy(entry["touched_at"]))
        if len(self.seen) == 1:
            raise TransientSendError(self.name, "421 try again")
        return SendResult(self.name, (message.message_id,))


def test_a_sender_touches_its_claim_before_and_between_tries(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        w = World(local(27, 10), units=["province:a"])
        await w.setup()
        flaky = SlowlyFailing(w)
        w.sender.dispatcher = Dispatcher({"email": [flaky], "sms": []},
                                         attempts_per_provider=2, backoff_seconds=0.0)
        touched_before: list[Any] = []
        original = w.sender._attempt_recorder

        def recorder(job: Any, round_no: int) -> Any:
            record = original(job, round_no)

            async def wrapped(attempt: Any) -> None:
                await record(attempt)
                touched_before.append(w.db["ledger"].docs[job.key]["touched_at"])

            return wrapped

        monkeypatch.setattr(w.sender, "_attempt_recorder", recorder)
        # Checks "slower" than the threshold: the claim is touched before the first try.
        monkeypatch.setattr(sender_module, "TOUCH_BEFORE_SENDING_SECONDS", -1.0)
        result = await w.scheduler.run_pass("test")
        assert result.campaigns[0].outcomes["sent"] == 1
        [key] = [k for k in w.db["ledger"].docs if "|email|" in k]
        entry = w.db["ledger"].docs[key]
        assert entry["status"] == "sent"
        first, second = flaky.seen
        assert first > entry["claimed_at"]  # touched before the first try
        assert second > first  # touched after the failed try, before the next
        assert touched_before[0] == second  # the failed try's record touched it

    asyncio.run(go())
