"""The submissions database: documents (mongoengine, for indexes) and the async
queries the request and stream paths use (pymongo)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import mongoengine as me
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


class SubmissionDoc(me.Document):
    """One revision of a unit's report. The outbox lives inside it (`event`,
    `published`), so storing the submission and its event is one atomic write."""

    meta = {
        "collection": "submissions",
        "indexes": [
            {"fields": ["unit_id", "idempotency_key"], "unique": True},
            {"fields": ["unit_id", "period", "-revision"]},
            {"fields": ["published", "stored_at"]},
        ],
    }
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    period = me.IntField(required=True)
    revision = me.IntField(required=True)
    idempotency_key = me.StringField(required=True)
    content_hash = me.StringField(required=True)
    received_at = me.DateTimeField(required=True)
    deadline = me.DateTimeField(required=True)
    on_time = me.BooleanField(required=True)
    supersedes = me.StringField(null=True)
    content = me.DictField(required=True)
    event = me.DictField(required=True)
    published = me.BooleanField(default=False)
    published_at = me.DateTimeField(null=True)
    stored_at = me.DateTimeField(required=True)
    # What changed since the previous revision (paths with before and after values).
    changes = me.ListField(me.DictField(), default=list)


class UnlockDoc(me.Document):
    """An operator's decision on amending a unit's period (`_id` = unit|period): an
    unlock until `expires_at`, or a lock (`locked_reason`) that refuses amendments."""

    meta = {"collection": "unlocks"}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    period = me.IntField(required=True)
    reason = me.StringField(required=True)
    granted_at = me.DateTimeField(required=True)
    expires_at = me.DateTimeField(null=True)
    locked_reason = me.StringField(null=True)


DOCUMENTS = [SubmissionDoc, UnlockDoc]


class SubmissionStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.db = db
        self.submissions = db["submissions"]
        self.unlocks = db["unlocks"]

    async def by_key(self, unit_id: str, key: str) -> dict[str, Any] | None:
        return await self.submissions.find_one({"unit_id": unit_id, "idempotency_key": key})

    async def by_id(self, submission_id: str) -> dict[str, Any] | None:
        return await self.submissions.find_one({"_id": submission_id})

    async def latest(self, unit_id: str, period: int) -> dict[str, Any] | None:
        cursor = self.submissions.find(
            {"unit_id": unit_id, "period": period}, {"content": 0, "event": 0}
        ).sort("revision", DESCENDING).limit(1)
        docs = await cursor.to_list(1)
        return docs[0] if docs else None

    async def list_for(self, unit_id: str, period: int | None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"unit_id": unit_id}
        if period is not None:
            query["period"] = period
        cursor = self.submissions.find(query, {"event": 0}).sort("revision", 1)
        return await cursor.to_list(None)

    async def insert(self, doc: dict[str, Any]) -> bool:
        """Claim the revision and the idempotency key in one insert; False if taken."""
        try:
            await self.submissions.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def mark_published(self, submission_id: str, when: datetime) -> None:
        await self.submissions.update_one(
            {"_id": submission_id}, {"$set": {"published": True, "published_at": when}})

    async def unpublished(self, older_than: datetime, limit: int = 100) -> list[dict[str, Any]]:
        cursor = self.submissions.find(
            {"published": False, "stored_at": {"$lte": older_than}}
        ).sort("stored_at", 1).limit(limit)
        return await cursor.to_list(limit)

    async def unlock_for(self, unit_id: str, period: int) -> dict[str, Any] | None:
        return await self.unlocks.find_one({"_id": f"{unit_id}|{period}"})

    async def grant_unlock(self, doc: dict[str, Any]) -> None:
        await self.unlocks.replace_one({"_id": doc["_id"]}, doc, upsert=True)
