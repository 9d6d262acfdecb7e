"""Handing one message to the providers of its channel: retries with backoff for
transient errors only, the next provider after a failure, a circuit breaker per
provider, and a stop at the first unknown outcome (a message that may have gone out is
never sent again, by this provider or another)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from opentelemetry import trace

from services.notifications import metrics
from services.notifications.providers import (
    Message,
    PermanentSendError,
    Provider,
    SendResult,
    TransientSendError,
    UnknownOutcome,
    worst_attempt_seconds,
)

tracer = trace.get_tracer(__name__)
SENT, FAILED, UNKNOWN, SKIPPED = "sent", "failed", "unknown", "skipped"


class CircuitBreaker:
    """Open after `failures` failures in a row; after `cooldown` seconds one trial send
    is let through (half-open): its success closes the circuit, its failure reopens it."""

    def __init__(self, failures: int = 3, cooldown: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures, self.cooldown, self.clock = failures, cooldown, clock
        self._count = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self._opened_at >= self.cooldown else "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        self._count, self._opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        self._count += 1
        if self._trial or self._count >= self.failures:
            self._opened_at, self._trial = self.clock(), False


@dataclass(frozen=True)
class Attempt:
    provider: str
    outcome: str  # sent, failed, unknown, skipped (circuit open)
    detail: str = ""
    transient: bool = False
    seconds: float = 0.0


@dataclass
class Delivery:
    outcome: str  # sent, failed, unknown
    result: SendResult | None = None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def retryable(self) -> bool:
        """Every failure was transient (or a skipped provider): a later round may work."""
        return self.outcome == FAILED and all(
            a.transient or a.outcome == SKIPPED for a in self.attempts)

    @property
    def tried(self) -> bool:
        """False if every provider was skipped (open circuits): nothing was attempted."""
        return any(a.outcome != SKIPPED for a in self.attempts)


OnAttempt = Callable[[Attempt], Awaitable[None]]


class Dispatcher:
    def __init__(self, providers: Mapping[str, Sequence[Provider]], *,
                 attempts_per_provider: int = 2, backoff_seconds: float = 0.25,
                 breaker_failures: int = 3, breaker_cooldown: float = 15.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.providers = {k: list(v) for k, v in providers.items()}
        self.attempts_per_provider, self.backoff = attempts_per_provider, backoff_seconds
        self.sleep = sleep
        self.breakers = {p.name: CircuitBreaker(breaker_failures, breaker_cooldown)
                         for chain in self.providers.values() for p in chain}

    def longest_attempt_seconds(self) -> float:
        """The longest one provider try can take, plus the longest backoff before it:
        the longest a sender goes without touching its claim while it delivers (it
        touches the claim after every failed try)."""
        tries = [worst_attempt_seconds(p) for chain in self.providers.values() for p in chain]
        backoff = self.backoff * 2 ** max(0, self.attempts_per_provider - 2)
        return max(tries, default=0.0) + (backoff if self.attempts_per_provider > 1 else 0.0)

    def breaker_states(self) -> dict[str, str]:
        return {name: b.state for name, b in self.breakers.items()}

    def reset_breakers(self) -> dict[str, str]:
        """Close every circuit (an operator has fixed a provider)."""
        for name, breaker in self.breakers.items():
            breaker.success()
            metrics.CIRCUIT_OPEN.labels(name).set(0)
        return self.breaker_states()

    async def deliver(self, channel: str, message: Message, on_attempt: OnAttempt | None = None
                      ) -> Delivery:
        delivery = Delivery(outcome=FAILED)

        async def record(attempt: Attempt) -> None:
            delivery.attempts.append(attempt)
            metrics.SEND_ATTEMPTS.labels(channel, attempt.provider, attempt.outcome).inc()
            state = self.breakers[attempt.provider].state
            metrics.CIRCUIT_OPEN.labels(attempt.provider).set(int(state != "closed"))
            if on_attempt is not None:
                await on_attempt(attempt)

        for provider in self.providers.get(channel, []):
            breaker = self.breakers[provider.name]
            if not breaker.allow():
                await record(Attempt(provider.name, SKIPPED, "circuit open", transient=True))
                continue
            for n in range(self.attempts_per_provider):
                if n:
                    await self.sleep(self.backoff * 2 ** (n - 1))
                started = time.perf_counter()
                with tracer.start_as_current_span(
                        "notifications.provider.send",
                        attributes={"notification.channel": channel,
                                    "notification.provider": provider.name}) as span:
                    try:
                        result = await provider.send(message)
                    except TransientSendError as exc:
                        breaker.failure()
                        span.set_attribute("notification.outcome", "transient")
                        await record(Attempt(provider.name, FAILED, exc.detail, True,
                                             time.perf_counter() - started))
                        if not breaker.allow():
                            break  # the circuit opened: no point in trying again now
                        continue
                    except PermanentSendError as exc:
                        span.set_attribute("notification.outcome", "permanent")
                        await record(Attempt(provider.name, FAILED, exc.detail, False,
                                             time.perf_counter() - started))
                        break
                    except UnknownOutcome as exc:
                        breaker.failure()
                        span.set_attribute("notification.outcome", "unknown")
                        await record(Attempt(provider.name, UNKNOWN, exc.detail, False,
                                             time.perf_counter() - started))
                        delivery.outcome = UNKNOWN
                        return delivery
                elapsed = time.perf_counter() - started
                breaker.success()
                metrics.SEND_SECONDS.labels(channel, provider.name).observe(elapsed)
                await record(Attempt(provider.name, SENT, result.detail, False, elapsed))
                delivery.outcome, delivery.result = SENT, result
                return delivery
        return delivery
