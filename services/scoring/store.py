"""The scoring database: the current score of each unit and period, and every score
ever computed (by rubric version and revision)."""

from __future__ import annotations

from typing import Any

import mongoengine as me
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


class ScoreDoc(me.Document):
    """The score in force (`_id` = unit|period); only a newer revision replaces it."""

    meta = {"collection": "scores", "strict": False,
            "indexes": [{"fields": ["period", "unit_id"]}]}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    period = me.IntField(required=True)
    revision = me.IntField(required=True)


class ScoreHistoryDoc(me.Document):
    meta = {"collection": "score_history", "strict": False,
            "indexes": [{"fields": ["unit_id", "period", "rubric_version"]}]}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    period = me.IntField(required=True)
    rubric_version = me.StringField(required=True)


DOCUMENTS = [ScoreDoc, ScoreHistoryDoc]


class ScoreStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.scores = db["scores"]
        self.history = db["score_history"]

    async def save(self, doc: dict[str, Any]) -> bool:
        """Store a score unless a newer revision is already in force. Returns whether
        `doc` is (now) the score in force, so a redelivery re-emits the same event."""
        key = doc["_id"]
        history_id = f"{key}|{doc['rubric_version']}|r{doc['revision']}"
        await self.history.replace_one({"_id": history_id}, {**doc, "_id": history_id},
                                       upsert=True)
        try:
            # Matches only an older revision (or nothing, then inserts): a conditional
            # replace in one document, atomic on MongoDB and FerretDB alike.
            await self.scores.replace_one(
                {"_id": key, "revision": {"$lte": doc["revision"]}}, doc, upsert=True)
        except DuplicateKeyError:
            return False  # a newer revision is in force
        return True

    async def current(self, unit_id: str, period: int) -> dict[str, Any] | None:
        return await self.scores.find_one({"_id": f"{unit_id}|{period}"})

    async def for_period(self, period: int) -> list[dict[str, Any]]:
        return await self.scores.find({"period": period}).to_list(None)
