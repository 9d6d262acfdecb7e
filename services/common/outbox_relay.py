"""The publishing loop of an outbox relay, shared by submissions' (accepted submissions)
and notifications' (notification events): entries go out in order; one Kafka does not
take is retried later with backoff (`EntryBackoff`) and the relay goes on with the
others, except later entries of the same key, which keep their order behind it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from services.common.backoff import EntryBackoff
from services.common.metrics import OUTBOX_RELAY_FAILURES

E = TypeVar("E")


async def publish_in_order(
    entries: Iterable[E], *, publish: Callable[[E], Awaitable[bool]],
    entry_id: Callable[[E], str], key: Callable[[E], str], held: set[str],
    backoff: EntryBackoff, batch: int, service: str, log: logging.Logger, what: str,
    id_field: str,
) -> int:
    """Try at most `batch` entries whose key is not `held`; `publish` answers whether it
    published one (an entry may also be dropped). A failure holds the entry's key (its
    later entries wait behind it), is counted (`outbox_relay_failures_total{service}`)
    and logged as "`what` not published" with the entry's id under `id_field`. Returns
    how many were published."""
    published = tried = 0
    for entry in entries:
        if tried >= batch:
            break
        if key(entry) in held:
            continue
        tried += 1
        _id = entry_id(entry)
        try:
            done = await publish(entry)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            held.add(key(entry))
            delay = backoff.failed(_id)
            OUTBOX_RELAY_FAILURES.labels(service).inc()
            log.warning("outbox relay: %s not published, retried later", what, extra={
                "fields": {id_field: _id, "error": repr(exc), "retry_in_seconds": delay,
                           "failures": backoff.failures(_id)}})
            continue
        backoff.succeeded(_id)
        published += done
    return published
