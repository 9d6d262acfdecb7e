"""How long a client should wait before it retries: Retry-After from the state of the
service (how long a dependency has been away), never a constant."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from services.common.metrics import OUTBOX_RELAY_FAILURES

log = logging.getLogger(__name__)
E = TypeVar("E")  # an outbox entry

# Bounds of any Retry-After the platform advises, in seconds.
MIN_RETRY_AFTER = 1
MAX_RETRY_AFTER = 60
# Advice for clients, in the OpenAPI descriptions of every 429 and 503.
JITTER_ADVICE = (
    "Retry-After is the service's estimate from its current state, in seconds. Wait that "
    "long plus a random extra of up to as long again (e.g. Retry-After x (1 + "
    "random())), so that clients refused together do not come back together; if refused "
    "again, wait at least twice as long as the time before (at most 5 minutes). Retry "
    "with the same Idempotency-Key: a retry never makes a second submission.")


def bounded(seconds: float, low: int = MIN_RETRY_AFTER, high: int = MAX_RETRY_AFTER) -> int:
    return max(low, min(high, math.ceil(seconds)))


class Outages:
    """When each dependency (the store, Kafka) started failing, if it is failing now. A
    client is advised to wait half as long as the outage has lasted (2 s for a blip, at
    most a minute): a long outage is likely to last a while more, and retries then load
    the service in proportion to what it can do."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._since: dict[str, float] = {}
        self._monotonic = monotonic

    def failed(self, name: str) -> int:
        """Note a failure of `name`; the Retry-After to advise."""
        now = self._monotonic()
        since = self._since.setdefault(name, now)
        return bounded(max(2.0, (now - since) / 2))

    def recovered(self, name: str) -> None:
        self._since.pop(name, None)

    def away(self, name: str) -> float:
        """Seconds `name` has been failing (0 when it is not)."""
        since = self._since.get(name)
        return 0.0 if since is None else self._monotonic() - since


class EntryBackoff:
    """Per-entry next-attempt times for an outbox relay. An entry whose publication
    failed waits `first` seconds, then twice as long after each further failure, at most
    `cap`; the relay skips it until then and goes on with the others, so one entry (one
    partition without a leader) never holds back the rest. Entries leave on success, or
    when the relay no longer lists them (`retain`); at most `limit` are remembered (the
    oldest failures are forgotten first, and simply tried again)."""

    def __init__(self, first: float = 1.0, cap: float = 60.0, limit: int = 10_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.first, self.cap, self.limit = first, cap, limit
        self._monotonic = monotonic
        # entry -> (consecutive failures, monotonic time of the next attempt)
        self._state: dict[str, tuple[int, float]] = {}

    def due(self, entry: str) -> bool:
        state = self._state.get(entry)
        return state is None or self._monotonic() >= state[1]

    def failed(self, entry: str) -> float:
        """Note a failed attempt; the seconds until the next one."""
        failures = self._state.pop(entry, (0, 0.0))[0] + 1
        delay = min(self.cap, self.first * 2 ** min(failures - 1, 62))
        self._state[entry] = (failures, self._monotonic() + delay)
        while len(self._state) > self.limit:
            del self._state[next(iter(self._state))]
        return delay

    def succeeded(self, entry: str) -> None:
        self._state.pop(entry, None)

    def retain(self, entries: set[str]) -> None:
        """Forget the entries not in `entries` (published or dropped elsewhere)."""
        for entry in [e for e in self._state if e not in entries]:
            del self._state[entry]

    def failures(self, entry: str) -> int:
        return self._state.get(entry, (0, 0.0))[0]

    def waiting(self) -> set[str]:
        """The entries whose next attempt has not come yet."""
        now = self._monotonic()
        return {e for e, (_, at) in self._state.items() if at > now}


async def relay_in_turn(entries: Iterable[E], publish: Callable[[E], Awaitable[bool]], *,
                        backoff: EntryBackoff, entry_id: Callable[[E], str],
                        order_key: Callable[[E], str], held: set[str], limit: int,
                        service: str, what: str, id_field: str) -> int:
    """One pass of an outbox relay over `entries`, oldest first: each handed to `publish`
    (True if it published the entry, False if it dropped it), at most `limit` tried. An
    entry that fails waits for its backoff (counted, logged as `what` with its id under
    `id_field`), and so do the later entries of its `order_key`, which keep their order
    behind it (`held`: the keys waiting already); the pass goes on with the others.
    Returns how many it published."""
    published = tried = 0
    for entry in entries:
        if tried >= limit:
            break
        if order_key(entry) in held:
            continue
        tried += 1
        eid = entry_id(entry)
        try:
            done = await publish(entry)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            held.add(order_key(entry))
            delay = backoff.failed(eid)
            OUTBOX_RELAY_FAILURES.labels(service).inc()
            log.warning(f"outbox relay: {what} not published, retried later", extra={
                "fields": {id_field: eid, "error": repr(exc), "retry_in_seconds": delay,
                           "failures": backoff.failures(eid)}})
            continue
        backoff.succeeded(eid)
        published += done
    return published
