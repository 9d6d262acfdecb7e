"""The units' deadline of a movement and period, set by an operator (issue 14).

Each movement has a labelled platform default (`services/common/movements.py`): 30
November for `toan-dan`, 26 November for `vi-an-ninh` (the day before the cluster
conferences). An operator may set another for one period; the setting is stored here
and published on the registry topic (`emulation.units.v1`, key
`<movement>|deadline|<period>`), so every service's registry replica shows the deadline
the receipts are judged by. A receipt keeps the deadline it was judged by: a change
applies to the reports that arrive after it."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime

from services.common import movements
from services.common.contracts import DeadlineSet
from services.common.envelope import Event, new_event
from services.common.errors import Refusal, Refused
from services.common.mongo import stored_as, without_id
from services.common.ports import Database, Producer
from services.common.registry_replica import DEADLINE_EVENT, deadline_key
from services.common.schema import validated
from services.common.topics import UNITS
from services.submissions import domain
from services.submissions.conferences import now_iso
from services.submissions.models import DeadlineInForce
from services.submissions.schema import DeadlineDoc

SOURCE = "urn:emulation:service:submissions"
# How long an intake process keeps a deadline it read: an operator's change reaches every
# process within this many seconds.
CACHE_SECONDS = 5.0


class DeadlineRefused(Refused):
    """A deadline that cannot be the period's."""


def deadline_record(movement: str, period: int, deadline: datetime, *, set_by: str,
                    at: datetime, reason: str | None) -> DeadlineSet:
    """An operator's deadline for the movement's period (DeadlineRefused if it has no
    offset, or falls outside the period's year and the early next one)."""
    if deadline.tzinfo is None:
        raise DeadlineRefused(Refusal.INVALID, "invalid-request",
                              "deadline: needs a timezone offset")
    if deadline.year not in (period, period + 1):
        raise DeadlineRefused(Refusal.INVALID, "invalid-request",
                              f"a deadline of {period} falls in {period} or early "
                              f"{period + 1}, not on {deadline.date()}")
    return {"movement": movement, "period": period, "deadline": deadline.isoformat(),
            "set_by": set_by, "set_at": now_iso(at), "reason": reason}


def deadline_event(record: DeadlineSet) -> Event:
    """Its id follows the content: setting the same deadline again is a duplicate."""
    content = {"movement": record["movement"], "period": record["period"],
               "deadline": record["deadline"]}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    key = deadline_key(record["movement"], record["period"])
    return new_event(type=DEADLINE_EVENT, source=SOURCE, subject=key, schema="deadline-set",
                     data=record, id=f"deadline:{record['movement']}:{record['period']}:"
                     f"{digest}")


def describe(period: int, movement: str, record: DeadlineSet | None) -> DeadlineInForce:
    """The deadline in force, as the API shows it: an operator's, or the default."""
    if record is not None:
        return {**record, "source": "operator"}
    return {"movement": movement, "period": period,
            "deadline": domain.deadline_for(period, movement=movement).isoformat(),
            "source": "default", "basis": movements.MOVEMENTS[movement].deadline_source,
            "set_by": None, "set_at": None, "reason": None}


class Deadlines:
    def __init__(self, *, db: Database, producer: Producer | None = None
                 ) -> None:
        self.coll = db["deadlines"]
        self.producer = producer
        self._held: dict[str, tuple[float, datetime | None]] = {}

    async def get(self, period: int, movement: str) -> DeadlineSet | None:
        doc = await self.coll.find_one({"_id": deadline_key(movement, period)})
        return stored_as(DeadlineSet, without_id(doc))

    async def deadline(self, period: int, movement: str) -> datetime:
        """The deadline a report of the movement's period is judged by (read at most
        every CACHE_SECONDS per process: one read by `_id`)."""
        key = deadline_key(movement, period)
        held = self._held.get(key)
        if held is None or time.monotonic() - held[0] > CACHE_SECONDS:
            record = await self.get(period, movement)
            held = (time.monotonic(),
                    datetime.fromisoformat(record["deadline"]) if record else None)
            self._held[key] = held
        return domain.deadline_for(period, held[1], movement)

    async def set(self, record: DeadlineSet) -> DeadlineSet:
        """Store the setting, then publish it (acks=all). A failed publish raises
        KafkaUnavailable with the setting stored: the same request again publishes it."""
        key = deadline_key(record["movement"], record["period"])
        await self.coll.replace_one({"_id": key}, validated(DeadlineDoc, {"_id": key, **record}),
                                    upsert=True)
        self._held.pop(key, None)
        if self.producer is not None:
            await self.producer.send(UNITS, deadline_event(record), key=key)
        return record
