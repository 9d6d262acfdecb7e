"""Provider chains: retries with backoff only for transient errors, the next provider
after a failure, a circuit breaker, and a full stop at an unknown outcome."""

from __future__ import annotations

import asyncio
from typing import Any

from services.notifications.dispatch import CircuitBreaker, Dispatcher
from services.notifications.providers import (
    PermanentSendError,
    SendResult,
    Sms,
    TransientSendError,
    UnknownOutcome,
)

MESSAGE = Sms(key="2040|police:lang-son|d-7|sms|+84990600101", to="+84990600101",
              text="x", reference=1)


class FakeProvider:
    channel = "sms"

    def __init__(self, name: str, *outcomes: Any) -> None:
        self.name, self.outcomes, self.calls = name, list(outcomes), 0

    async def send(self, message: Any) -> SendResult:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "ok":
            return SendResult(self.name, (f"{self.name}-{self.calls}",))
        raise outcome(self.name, "injected")


def deliver(*providers: FakeProvider, **kwargs: Any) -> Any:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    dispatcher = Dispatcher({"sms": providers}, sleep=sleep, **kwargs)
    return asyncio.run(dispatcher.deliver("sms", MESSAGE)), slept, dispatcher


def test_a_transient_error_is_retried_with_backoff() -> None:
    a = FakeProvider("a", TransientSendError)
    result, slept, _ = deliver(a, attempts_per_provider=3, backoff_seconds=0.5)
    assert result.outcome == "sent" and a.calls == 2
    assert slept == [0.5]


def test_a_failing_provider_falls_back_to_the_next() -> None:
    a = FakeProvider("a", TransientSendError, TransientSendError)
    b = FakeProvider("b")
    result, slept, _ = deliver(a, b, attempts_per_provider=2, backoff_seconds=0.25)
    assert result.outcome == "sent" and result.result.provider == "b"
    assert [x.outcome for x in result.attempts] == ["failed", "failed", "sent"]
    assert slept == [0.25]


def test_a_permanent_error_is_not_retried_on_the_same_provider() -> None:
    a, b = FakeProvider("a", PermanentSendError), FakeProvider("b")
    result, slept, _ = deliver(a, b, attempts_per_provider=3)
    assert a.calls == 1 and result.result.provider == "b" and slept == []


def test_an_unknown_outcome_is_never_resent_anywhere() -> None:
    a, b = FakeProvider("a", UnknownOutcome), FakeProvider("b")
    result, _, _ = deliver(a, b, attempts_per_provider=3)
    assert result.outcome == "unknown" and a.calls == 1 and b.calls == 0
    assert not result.retryable


def test_all_providers_failing_transiently_is_retryable_later() -> None:
    a = FakeProvider("a", TransientSendError, TransientSendError)
    result, _, _ = deliver(a, attempts_per_provider=2)
    assert result.outcome == "failed" and result.retryable
    p = FakeProvider("p", PermanentSendError)
    result, _, _ = deliver(p)
    assert result.outcome == "failed" and not result.retryable


def test_an_open_circuit_skips_the_provider() -> None:
    a = FakeProvider("a", *[TransientSendError] * 10)
    b = FakeProvider("b")
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    dispatcher = Dispatcher({"sms": [a, b]}, attempts_per_provider=2, breaker_failures=3,
                            breaker_cooldown=60, sleep=sleep)
    asyncio.run(dispatcher.deliver("sms", MESSAGE))  # 2 failures
    asyncio.run(dispatcher.deliver("sms", MESSAGE))  # the third opens the circuit
    assert dispatcher.breaker_states()["a"] == "open"
    calls = a.calls
    result = asyncio.run(dispatcher.deliver("sms", MESSAGE))
    assert a.calls == calls and result.result.provider == "b"
    assert result.attempts[0].outcome == "skipped"


def test_breaker_half_opens_after_the_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=2, cooldown=10, clock=lambda: now[0])
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 10.0
    assert breaker.state == "half-open"
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failure()
    assert breaker.state == "open"
    now[0] = 20.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()
