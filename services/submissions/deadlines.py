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
from typing import Any

from services.common import movements
from services.common.envelope import Event, new_event
from services.common.ports import Database, Producer
from services.common.registry_replica import DEADLINE_EVENT, deadline_key
from services.common.schema import validated
from services.common.topics import UNITS
from services.submissions import domain
from services.submissions.schema import DeadlineDoc

SOURCE = "urn:emulation:service:submissions"
# How long an intake process keeps a deadline it read: an operator's change reaches every
# process within this many seconds.
CACHE_SECONDS = 5.0


def deadline_event(record: dict[str, Any]) -> Event:
    """Its id follows the content: setting the same deadline again is a duplicate."""
    content = {k: record[k] for k in ("movement", "period", "deadline")}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    key = deadline_key(record["movement"], record["period"])
    return new_event(type=DEADLINE_EVENT, source=SOURCE, subject=key, schema="deadline-set",
                     data=record, id=f"deadline:{record['movement']}:{record['period']}:"
                     f"{digest}")


def describe(period: int, movement: str, record: dict[str, Any] | None) -> dict[str, Any]:
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

    async def get(self, period: int, movement: str) -> dict[str, Any] | None:
        doc = await self.coll.find_one({"_id": deadline_key(movement, period)})
        return None if doc is None else {k: v for k, v in doc.items() if k != "_id"}

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

    async def set(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store the setting, then publish it (acks=all). A failed publish raises
        KafkaUnavailable with the setting stored: the same request again publishes it."""
        key = deadline_key(record["movement"], record["period"])
        await self.coll.replace_one({"_id": key}, validated(DeadlineDoc, {"_id": key, **record}),
                                    upsert=True)
        self._held.pop(key, None)
        if self.producer is not None:
            await self.producer.send(UNITS, deadline_event(record), key=key)
        return record
