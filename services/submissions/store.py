"""The submissions database: documents (mongoengine, for indexes) and the async
queries the request and stream paths use (pymongo).

The hot paths read and write by `_id` only: the local FerretDB pushes nothing else down to
SQL and decodes every document of a collection for any other filter or sort (~1 ms per
document, docs/benchmarks.md). Three small documents beside each submission make that
possible: a key pointer (`submission_keys`, unit|key -> submission id), a head per
unit|period (`submission_heads`, the latest revision) and an outbox entry per submission
not yet on Kafka (`outbox`). The submission's own `_id` (period.unit.rN) and the unique
(unit_id, idempotency_key) index stay the claims: pointers and heads are hints that every
conflict corrects, so a crash between two writes loses nothing and blocks nothing.

Writes are group-committed: the same step of the requests in progress together (their
outbox entries, their inserts, their pointers and heads, their marks as published) is
one bulk write, each request answered on its own; every submission still goes through
the steps in the same order, so the reasoning above holds for each (ADR 0001)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import mongoengine as me
from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure

from services.common.batching import GroupCommit
from services.common.mongo import DUPLICATE_KEY, Upsert, upsert_all

# The marker of the one-time backfill of pointers, heads and outbox entries for the
# submissions stored before they existed.
BACKFILL_MARKER = "backfill:keys-heads-outbox:v1"


class SubmissionDoc(me.Document):
    """One revision of a unit's report. Its event (`event`, `published`) is stored with
    it in one write; the `outbox` entry tells the relay it is pending."""

    meta = {
        "collection": "submissions",
        "indexes": [
            # The idempotency claim: one submission per unit and key whatever the pointers say.
            {"fields": ["unit_id", "idempotency_key"], "unique": True},
            # list_for (a unit's revisions). The relay reads the outbox, not a
            # (published, stored_at) index any more: an existing one may be dropped.
            {"fields": ["unit_id", "period", "-revision"]},
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
    # services.common.movements; absent on revisions stored before movements existed
    # (read as the unit type's movement).
    movement = me.StringField(null=True)
    content = me.DictField(required=True)
    event = me.DictField(required=True)
    published = me.BooleanField(default=False)
    published_at = me.DateTimeField(null=True)
    stored_at = me.DateTimeField(required=True)
    # What changed since the previous revision (paths with before and after values).
    changes = me.ListField(me.DictField(), default=list)


class SubmissionKeyDoc(me.Document):
    """Which submission an Idempotency-Key produced (`_id` = unit|key): a replay is one
    read by `_id`. Written after the submission; a missing one is found again through the
    unique index when the replay's insert conflicts."""

    meta = {"collection": "submission_keys"}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    submission_id = me.StringField(required=True)
    content_hash = me.StringField(required=True)


class SubmissionHeadDoc(me.Document):
    """The latest revision of a unit's period (`_id` = unit|period), only ever raised
    (`$max`). Written after the submission, so it may lag behind by a crash: the next
    revision's insert then conflicts and raises it."""

    meta = {"collection": "submission_heads"}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    period = me.IntField(required=True)
    revision = me.IntField(required=True)
    # The first report's timeliness, which every amendment keeps.
    on_time = me.BooleanField(required=True)


class OutboxDoc(me.Document):
    """A submission (`_id` = its id) that may not be on Kafka yet. Written BEFORE the
    submission, deleted after it is marked published: the relay lists only these. An
    entry whose submission is published, or was never stored, is harmless: the relay
    checks and deletes it."""

    meta = {"collection": "outbox"}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    stored_at = me.DateTimeField(required=True)


class MarkerDoc(me.Document):
    """One-time data changes already done (`_id` = their name)."""

    meta = {"collection": "submission_markers"}
    id = me.StringField(primary_key=True)
    done_at = me.DateTimeField(required=True)
    submissions = me.IntField(required=True)


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


DOCUMENTS = [SubmissionDoc, SubmissionKeyDoc, SubmissionHeadDoc, OutboxDoc, MarkerDoc,
             UnlockDoc]


# An upsert by `_id`: the filter and the update (or the whole document).


def key_id(unit_id: str, key: str) -> str:
    return f"{unit_id}|{key}"


def head_id(unit_id: str, period: int) -> str:
    return f"{unit_id}|{period}"


class SubmissionStore:
    def __init__(self, db: AsyncDatabase[Any], group_window: float = 0.002) -> None:
        """`group_window`: seconds a write waits for others to share its bulk write."""
        self.db = db
        self.submissions = db["submissions"]
        self.keys = db["submission_keys"]
        self.heads = db["submission_heads"]
        self.outbox = db["outbox"]
        self.markers = db["submission_markers"]
        self.unlocks = db["unlocks"]
        self._pend = GroupCommit(self._pend_all, window=group_window)
        self._insert = GroupCommit(self._insert_all, window=group_window)
        self._remember = GroupCommit(self._remember_all, window=group_window)
        self._publish = GroupCommit(self._mark_all_published, window=group_window)

    async def by_id(self, submission_id: str) -> dict[str, Any] | None:
        return await self.submissions.find_one({"_id": submission_id})

    async def key(self, unit_id: str, key: str) -> dict[str, Any] | None:
        return await self.keys.find_one({"_id": key_id(unit_id, key)})

    async def by_key(self, unit_id: str, key: str) -> dict[str, Any] | None:
        """The submission holding a key, by its fields: a scan on FerretDB, only for a
        key whose pointer a crash (or an older version) never wrote."""
        return await self.submissions.find_one({"unit_id": unit_id, "idempotency_key": key})

    async def head(self, unit_id: str, period: int) -> dict[str, Any] | None:
        return await self.heads.find_one({"_id": head_id(unit_id, period)})

    async def list_for(self, unit_id: str, period: int | None) -> list[dict[str, Any]]:
        # A read path, rare and by a unit's person: the filter (an index on MongoDB) stays.
        query: dict[str, Any] = {"unit_id": unit_id}
        if period is not None:
            query["period"] = period
        cursor = self.submissions.find(query, {"event": 0}).sort("revision", 1)
        return await cursor.to_list(None)

    async def pend(self, doc: dict[str, Any], when: datetime) -> None:
        """The outbox entry, before the submission (a crash after it leaves at worst an
        entry the relay discards). `stored_at` is refreshed by each writer: the relay
        discards an entry without its submission only if it did not change meanwhile."""
        await self._pend((doc["_id"], doc["unit_id"], when))

    async def _pend_all(self, entries: list[tuple[str, str, datetime]]) -> list[None]:
        # Upserts racing another writer's upsert of the same entry wrote the same thing.
        await upsert_all(self.outbox, [
            ({"_id": sid}, {"$set": {"unit_id": unit_id, "stored_at": when}})
            for sid, unit_id, when in entries])
        return [None] * len(entries)

    async def insert(self, doc: dict[str, Any]) -> bool:
        """Claim the revision (`_id`) and the idempotency key (unique index) in one
        insert; False if either is taken."""
        return await self._insert(doc)

    async def _insert_all(self, docs: list[dict[str, Any]]) -> list[bool | Exception]:
        """One unordered insert: each document is claimed or refused on its own."""
        try:
            await self.submissions.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            refused = {e["index"]: e for e in exc.details.get("writeErrors", [])}
            return [True if i not in refused
                    else False if refused[i].get("code") == DUPLICATE_KEY
                    else OperationFailure(refused[i].get("errmsg", "write error"),
                                          refused[i].get("code"))
                    for i in range(len(docs))]
        return [True] * len(docs)

    async def remember(self, doc: dict[str, Any]) -> None:
        """The key pointer and the head for a stored submission; idempotent, and any
        order or repetition gives the same result."""
        await self._remember(doc)

    async def _remember_all(self, docs: list[dict[str, Any]]) -> list[None]:
        pointers = [({"_id": key_id(d["unit_id"], d["idempotency_key"])}, {
            "_id": key_id(d["unit_id"], d["idempotency_key"]), "unit_id": d["unit_id"],
            "submission_id": d["_id"], "content_hash": d["content_hash"]}) for d in docs]
        # A concurrent upsert of a pointer wrote the same; heads are raised on their own.
        await asyncio.gather(upsert_all(self.keys, pointers, replace=True),
                             self._raise_heads(docs))
        return [None] * len(docs)

    async def raise_head(self, doc: dict[str, Any]) -> None:
        await self._raise_heads([doc])

    async def _raise_heads(self, docs: list[dict[str, Any]]) -> None:
        latest: dict[str, dict[str, Any]] = {}
        for d in docs:  # one write per head, the highest revision (`$max` anyway)
            hid = head_id(d["unit_id"], d["period"])
            if hid not in latest or latest[hid]["revision"] < d["revision"]:
                latest[hid] = d
        heads = [({"_id": hid}, {
            "$max": {"revision": d["revision"]},
            "$setOnInsert": {"unit_id": d["unit_id"], "period": d["period"],
                             "on_time": d["on_time"]}}) for hid, d in latest.items()]
        # Two first upserts raced; the head exists now: raise it.
        for flt, update in await upsert_all(self.heads, heads):
            await self.heads.update_one(flt, {"$max": update["$max"]})

    async def mark_published(self, submission_id: str, when: datetime) -> None:
        await self._publish((submission_id, when))

    async def _mark_all_published(self, marks: list[tuple[str, datetime]]) -> list[None]:
        # Marked before the entries go: a crash between leaves entries the relay deletes.
        await self.submissions.bulk_write([
            UpdateOne({"_id": sid}, {"$set": {"published": True, "published_at": when}})
            for sid, when in marks], ordered=False)
        await self.outbox.bulk_write([DeleteOne({"_id": sid}) for sid, _ in marks],
                                     ordered=False)
        return [None] * len(marks)

    async def pending(self) -> list[dict[str, Any]]:
        """Every outbox entry: a small collection (what is not on Kafka yet)."""
        return await self.outbox.find({}).to_list(None)

    async def drop_entry(self, entry: dict[str, Any], *, unless_refreshed: bool) -> None:
        query: dict[str, Any] = {"_id": entry["_id"]}
        if unless_refreshed:
            # A writer about to store this submission refreshed it: keep it. (A filter
            # beside `_id`: a scan, of the small outbox only.)
            query["stored_at"] = entry["stored_at"]
        await self.outbox.delete_one(query)

    async def backfill(self, when: datetime) -> int | None:
        """Pointers, heads and outbox entries for submissions stored before they existed:
        one scan, once per database (then a marker). None when already done."""
        if await self.markers.find_one({"_id": BACKFILL_MARKER}) is not None:
            return None
        docs = await self.submissions.find({}, {
            "unit_id": 1, "period": 1, "revision": 1, "idempotency_key": 1,
            "content_hash": 1, "on_time": 1, "published": 1, "stored_at": 1,
        }).to_list(None)
        ops_keys: list[Upsert] = []
        ops_outbox: list[Upsert] = []
        ops_heads: dict[str, dict[str, Any]] = {}
        for d in docs:
            ops_keys.append((
                {"_id": key_id(d["unit_id"], d["idempotency_key"])},
                {"$set": {"unit_id": d["unit_id"], "submission_id": d["_id"],
                          "content_hash": d["content_hash"]}}))
            hid = head_id(d["unit_id"], d["period"])
            if hid not in ops_heads or ops_heads[hid]["revision"] < d["revision"]:
                ops_heads[hid] = d
            if not d.get("published"):
                ops_outbox.append((
                    {"_id": d["_id"]},
                    {"$setOnInsert": {"unit_id": d["unit_id"], "stored_at": d["stored_at"]}}))
        await upsert_all(self.keys, ops_keys)
        for d in ops_heads.values():
            await self.raise_head(d)
        await upsert_all(self.outbox, ops_outbox)
        await self.markers.replace_one(
            {"_id": BACKFILL_MARKER},
            {"_id": BACKFILL_MARKER, "done_at": when, "submissions": len(docs)}, upsert=True)
        return len(docs)

    async def unlock_for(self, unit_id: str, period: int) -> dict[str, Any] | None:
        return await self.unlocks.find_one({"_id": f"{unit_id}|{period}"})

    async def grant_unlock(self, doc: dict[str, Any]) -> None:
        await self.unlocks.replace_one({"_id": doc["_id"]}, doc, upsert=True)


