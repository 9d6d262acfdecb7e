"""How long a client should wait before it retries: Retry-After from the state of the
service (how long a dependency has been away), never a constant."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

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
