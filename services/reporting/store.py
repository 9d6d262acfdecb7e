"""The reporting read models, built only from the topics (rebuildable by replay)."""

from __future__ import annotations

from typing import Any

import mongoengine as me
from pymongo.asynchronous.database import AsyncDatabase


class ReportDoc(me.Document):
    """Latest state of each unit's report (`_id` = unit|period)."""

    meta = {"collection": "rm_submissions", "strict": False,
            "indexes": [{"fields": ["period"]}]}
    id = me.StringField(primary_key=True)
    period = me.IntField(required=True)


class ScoreViewDoc(me.Document):
    meta = {"collection": "rm_scores", "strict": False, "indexes": [{"fields": ["period"]}]}
    id = me.StringField(primary_key=True)
    period = me.IntField(required=True)


DOCUMENTS = [ReportDoc, ScoreViewDoc]


class ReadModel:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.reports = db["rm_submissions"]
        self.scores = db["rm_scores"]

    async def apply_submission(self, data: dict[str, Any]) -> None:
        """Keeps the first report's timeliness and the latest revision; idempotent."""
        key = f"{data['unit_id']}|{data['period']}"
        await self.reports.update_one(
            {"_id": key},
            {"$setOnInsert": {"unit_id": data["unit_id"], "period": data["period"],
                              "first_received_at": data["received_at"],
                              "on_time": data["on_time"]},
             "$max": {"revision": data["revision"]}},
            upsert=True)

    async def apply_score(self, data: dict[str, Any]) -> None:
        key = f"{data['unit_id']}|{data['period']}"
        doc = {"unit_id": data["unit_id"], "period": data["period"], "total": data["total"],
               "max": data["max"], "revision": data["revision"],
               "rubric_version": data["rubric_version"]}
        # Only a score of a newer (or the same) revision replaces the one shown.
        existing = await self.scores.find_one({"_id": key})
        if existing is None or existing["revision"] <= data["revision"]:
            await self.scores.replace_one({"_id": key}, doc, upsert=True)

    async def reports_for(self, period: int) -> dict[str, dict[str, Any]]:
        docs = await self.reports.find({"period": period}).to_list(None)
        return {d["unit_id"]: d for d in docs}

    async def scores_for(self, period: int) -> dict[str, dict[str, Any]]:
        docs = await self.scores.find({"period": period}).to_list(None)
        return {d["unit_id"]: d for d in docs}
