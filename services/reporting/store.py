"""The reporting read models, built only from the topics (so a replay rebuilds them).

Every write is idempotent and order-insensitive: a document is replaced only by one of
a greater `order` (a conditional replace in one document, the same on MongoDB and
FerretDB), so a redelivered event, a replay, or a replay running beside the live
consumers all end in the same state."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import mongoengine as me
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.reporting.projections import unit_key


class ReportDoc(me.Document):
    """Each unit's report of a period (`_id` = unit|period): the first receipt and its
    timeliness, the latest revision and what it says was done."""

    meta = {"collection": "rm_submissions", "strict": False,
            "indexes": [{"fields": ["period"]}]}
    id = me.StringField(primary_key=True)
    period = me.IntField(required=True)


class ScoreViewDoc(me.Document):
    """The score in force with its breakdown (`_id` = unit|period)."""

    meta = {"collection": "rm_scores", "strict": False, "indexes": [{"fields": ["period"]}]}
    id = me.StringField(primary_key=True)
    period = me.IntField(required=True)


class ReminderViewDoc(me.Document):
    """One reminder and its latest status (`_id` = unit|period|stage|channel|recipient)."""

    meta = {"collection": "rm_reminders", "strict": False,
            "indexes": [{"fields": ["period"]}]}
    id = me.StringField(primary_key=True)
    period = me.IntField(required=True)


class StandingsViewDoc(me.Document):
    """The latest standings of a cluster (`_id` = cluster|period)."""

    meta = {"collection": "rm_standings", "strict": False}
    id = me.StringField(primary_key=True)


class ProposalsViewDoc(me.Document):
    """The latest recognition proposals of a period (`_id` = period)."""

    meta = {"collection": "rm_proposals", "strict": False}
    id = me.StringField(primary_key=True)


class LeadershipViewDoc(me.Document):
    """A cluster's head and deputy for the year they serve (`_id` = cluster|period)."""

    meta = {"collection": "rm_leadership", "strict": False}
    id = me.StringField(primary_key=True)


class MetaDoc(me.Document):
    """`watermark`: the time of the newest event applied (what a report reflects)."""

    meta = {"collection": "rm_meta", "strict": False}
    id = me.StringField(primary_key=True)


DOCUMENTS: list[Any] = [ReportDoc, ScoreViewDoc, ReminderViewDoc, StandingsViewDoc,
                        ProposalsViewDoc, LeadershipViewDoc, MetaDoc]


async def replace_if_newer(coll: AsyncCollection[Any], doc: dict[str, Any]) -> bool:
    """Store `doc` unless the stored one has the same or a greater `order`; True if
    stored. The filter matches only an older document (or none, then inserts): when a
    newer one exists the insert hits its `_id` and fails, which means "keep it"."""
    try:
        await coll.replace_one({"_id": doc["_id"], "order": {"$lt": doc["order"]}}, doc,
                               upsert=True)
    except DuplicateKeyError:
        return False
    return True


class ReadModel:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.db = db
        self.reports = db["rm_submissions"]
        self.scores = db["rm_scores"]
        self.reminders = db["rm_reminders"]
        self.standings = db["rm_standings"]
        self.proposals = db["rm_proposals"]
        self.leadership = db["rm_leadership"]
        self.meta = db["rm_meta"]

    # -- writes (from events) ---------------------------------------------------------

    async def apply_submission(self, key: str, base: dict[str, Any], first: dict[str, Any],
                               latest: dict[str, Any]) -> None:
        """Three single-document writes, each safe in any order: create with this
        event's fields; an earlier revision takes over the first-report fields; a
        later revision takes over the latest-revision fields."""
        # A duplicate key means a concurrent writer created it: the updates below apply.
        with contextlib.suppress(DuplicateKeyError):
            await self.reports.update_one(
                {"_id": key}, {"$setOnInsert": {**base, **first, **latest}}, upsert=True)
        await self.reports.update_one(
            {"_id": key, "first_revision": {"$gt": first["first_revision"]}}, {"$set": first})
        await self.reports.update_one(
            {"_id": key, "revision": {"$lt": latest["revision"]}}, {"$set": latest})

    async def apply_score(self, doc: dict[str, Any]) -> bool:
        return await replace_if_newer(self.scores, doc)

    async def apply_reminder(self, doc: dict[str, Any]) -> bool:
        if doc.get("sent_at") is None:
            # A later status event may not repeat when the reminder went out: keep it.
            old = await self.reminders.find_one({"_id": doc["_id"]}, {"sent_at": 1})
            if old and old.get("sent_at"):
                doc = {**doc, "sent_at": old["sent_at"]}
        return await replace_if_newer(self.reminders, doc)

    async def apply_standings(self, doc: dict[str, Any]) -> bool:
        return await replace_if_newer(self.standings, doc)

    async def apply_proposals(self, doc: dict[str, Any]) -> bool:
        return await replace_if_newer(self.proposals, doc)

    async def apply_leadership(self, doc: dict[str, Any]) -> bool:
        return await replace_if_newer(self.leadership, doc)

    async def advance_watermark(self, when: datetime | None) -> None:
        if when is not None:
            await self.meta.update_one({"_id": "watermark"},
                                       {"$max": {"last_event_at": when}}, upsert=True)

    # -- reads --------------------------------------------------------------------------

    async def reports_for(self, period: int) -> dict[str, dict[str, Any]]:
        docs = await self.reports.find({"period": period}).to_list(None)
        return {d["unit_id"]: d for d in docs}

    async def scores_for(self, period: int) -> dict[str, dict[str, Any]]:
        docs = await self.scores.find({"period": period}).to_list(None)
        return {d["unit_id"]: d for d in docs}

    async def reminders_for(self, period: int) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for d in await self.reminders.find({"period": period}).to_list(None):
            out.setdefault(d["unit_id"], []).append(d)
        return out

    async def standings_of(self, cluster_id: str, period: int) -> dict[str, Any] | None:
        return await self.standings.find_one({"_id": unit_key(cluster_id, period)})

    async def proposals_of(self, period: int) -> dict[str, Any] | None:
        return await self.proposals.find_one({"_id": str(period)})

    async def leadership_of(self, cluster_id: str, period: int) -> dict[str, Any] | None:
        return await self.leadership.find_one({"_id": unit_key(cluster_id, period)})

    async def last_event_at(self) -> datetime | None:
        doc = await self.meta.find_one({"_id": "watermark"})
        return doc.get("last_event_at") if doc else None

    # -- rebuild ------------------------------------------------------------------------

    async def drop_all(self, documents: list[Any]) -> None:
        """Drop every read-model collection, then recreate their indexes."""
        for doc in documents:
            await self.db.drop_collection(doc._get_collection_name())
        # mongoengine creates indexes through its own (synchronous) connection.
        await asyncio.to_thread(lambda: [d.ensure_indexes() for d in documents])
