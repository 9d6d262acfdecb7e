"""The scoring database: the score in force of each unit and period, every score ever
computed (by rubric version and revision), the rubric an operator chose for a period,
the cluster leadership register, and what was last published per stream."""

from __future__ import annotations

from typing import Any

import mongoengine as me
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


class ScoreDoc(me.Document):
    """The score in force (`_id` = unit|period); only a newer revision, or the same
    revision under another rubric (a rescore), replaces it."""

    meta = {"collection": "scores", "strict": False,
            "indexes": [{"fields": ["period", "unit_id"]}]}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    period = me.IntField(required=True)
    revision = me.IntField(required=True)


class ScoreHistoryDoc(me.Document):
    """Every score (`_id` = unit|period|rubric version|r<revision>); never deleted."""

    meta = {"collection": "score_history", "strict": False,
            "indexes": [{"fields": ["unit_id", "period", "rubric_version"]}]}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    period = me.IntField(required=True)
    rubric_version = me.StringField(required=True)


class RubricSelectionDoc(me.Document):
    """The rubric an operator's rescore put in force (`_id` = unit type|period)."""

    meta = {"collection": "rubric_selections", "strict": False}
    id = me.StringField(primary_key=True)


class LeadershipDoc(me.Document):
    """The leadership register (`_id` = cluster|period served): a suggestion, or an
    operator's decision with every earlier decision in `decisions`."""

    meta = {"collection": "leadership", "strict": False,
            "indexes": [{"fields": ["cluster_id", "period"]}]}
    id = me.StringField(primary_key=True)
    cluster_id = me.StringField(required=True)
    period = me.IntField(required=True)


class PublicationDoc(me.Document):
    """The content hash last published per stream (`_id` = kind|subject|period)."""

    meta = {"collection": "publications", "strict": False}
    id = me.StringField(primary_key=True)


DOCUMENTS = [ScoreDoc, ScoreHistoryDoc, RubricSelectionDoc, LeadershipDoc, PublicationDoc]


def score_key(unit_id: str, period: int) -> str:
    return f"{unit_id}|{period}"


def history_key(doc: dict[str, Any]) -> str:
    return f"{doc['unit_id']}|{doc['period']}|{doc['rubric_version']}|r{doc['revision']}"


class ScoreStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.scores = db["scores"]
        self.history = db["score_history"]
        self.selections = db["rubric_selections"]
        self.publications = db["publications"]

    async def save(self, doc: dict[str, Any]) -> bool:
        """Keep `doc` in the history and make it current unless a newer revision is in
        force. Returns whether `doc` is (now) the score in force, so a redelivery
        re-emits the same event."""
        key = score_key(doc["unit_id"], doc["period"])
        hid = history_key(doc)
        await self.history.replace_one({"_id": hid}, {**doc, "_id": hid}, upsert=True)
        try:
            # Matches only an older (or the same) revision, or nothing and then inserts:
            # a conditional replace of one document, atomic on MongoDB and FerretDB.
            await self.scores.replace_one(
                {"_id": key, "revision": {"$lte": doc["revision"]}}, {**doc, "_id": key},
                upsert=True)
        except DuplicateKeyError:
            return False  # a newer revision is in force
        return True

    async def kept(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """The stored score of the same unit, period, rubric version and revision."""
        return await self.history.find_one({"_id": history_key(doc)})

    async def current(self, unit_id: str, period: int) -> dict[str, Any] | None:
        return await self.scores.find_one({"_id": score_key(unit_id, period)})

    async def by_version(self, unit_id: str, period: int, version: str
                         ) -> dict[str, Any] | None:
        """The latest revision's score under a rubric version (current or not)."""
        docs = await self.history.find(
            {"unit_id": unit_id, "period": period, "rubric_version": version}
        ).sort("revision", DESCENDING).limit(1).to_list(1)
        return docs[0] if docs else None

    async def history_of(self, unit_id: str, period: int) -> list[dict[str, Any]]:
        docs = await self.history.find({"unit_id": unit_id, "period": period}).to_list(None)
        return sorted(docs, key=lambda d: (d["revision"], d.get("scored_at") or ""))

    async def for_period(self, period: int) -> list[dict[str, Any]]:
        return await self.scores.find({"period": period}).to_list(None)

    # -- the rubric chosen by an operator for a period ---------------------------------

    async def selected(self, unit_type: str, period: int) -> str | None:
        doc = await self.selections.find_one({"_id": f"{unit_type}|{period}"})
        return str(doc["rubric_version"]) if doc else None

    async def select(self, unit_type: str, period: int, version: str, at: Any) -> None:
        await self.selections.replace_one(
            {"_id": f"{unit_type}|{period}"},
            {"unit_type": unit_type, "period": period, "rubric_version": version,
             "selected_at": at}, upsert=True)

    # -- what was last published, to publish only changes -----------------------------

    async def published(self, stream: str) -> str | None:
        doc = await self.publications.find_one({"_id": stream})
        return str(doc["hash"]) if doc else None

    async def mark_published(self, stream: str, content_hash: str) -> None:
        await self.publications.replace_one({"_id": stream}, {"hash": content_hash},
                                            upsert=True)


class LeadershipStore:
    """The register of cluster heads and deputies, one document per cluster and year."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.register = db["leadership"]

    async def get(self, cluster_id: str, period: int) -> dict[str, Any] | None:
        return await self.register.find_one({"_id": f"{cluster_id}|{period}"})

    async def of_cluster(self, cluster_id: str) -> list[dict[str, Any]]:
        return await self.register.find({"cluster_id": cluster_id}).to_list(None)

    async def suggest(self, doc: dict[str, Any]) -> bool:
        """Record a suggestion unless an operator decided that year; False if decided."""
        key = f"{doc['cluster_id']}|{doc['period']}"
        try:
            await self.register.replace_one({"_id": key, "status": "suggested"},
                                            {**doc, "_id": key}, upsert=True)
        except DuplicateKeyError:
            return False
        return True

    async def decide(self, doc: dict[str, Any]) -> None:
        key = f"{doc['cluster_id']}|{doc['period']}"
        await self.register.replace_one({"_id": key}, {**doc, "_id": key}, upsert=True)
