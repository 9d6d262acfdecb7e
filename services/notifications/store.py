"""The notifications database: which units reported (per period)."""

from __future__ import annotations

from typing import Any

import mongoengine as me
from pymongo.asynchronous.database import AsyncDatabase


class UnitStatusDoc(me.Document):
    """`_id` = unit|period; the first report decides timeliness."""

    meta = {"collection": "unit_status", "strict": False,
            "indexes": [{"fields": ["period"]}]}
    id = me.StringField(primary_key=True)
    period = me.IntField(required=True)


DOCUMENTS = [UnitStatusDoc]


class StatusStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.status = db["unit_status"]

    async def record_submission(self, data: dict[str, Any]) -> None:
        """Idempotent; an amendment updates the latest revision, not the first report."""
        key = f"{data['unit_id']}|{data['period']}"
        await self.status.update_one(
            {"_id": key},
            {"$setOnInsert": {"unit_id": data["unit_id"], "period": data["period"],
                              "first_submission_id": data["submission_id"],
                              "first_received_at": data["received_at"],
                              "on_time": data["on_time"]},
             "$max": {"latest_revision": data["revision"]}},
            upsert=True)

    async def submitted(self, period: int) -> dict[str, bool]:
        docs = await self.status.find({"period": period}).to_list(None)
        return {d["unit_id"]: bool(d["on_time"]) for d in docs}

    async def of_unit(self, unit_id: str, period: int) -> dict[str, Any] | None:
        return await self.status.find_one({"_id": f"{unit_id}|{period}"})
