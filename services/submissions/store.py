"""The submissions database: the async queries the request and stream paths use
(pymongo), each document checked against its class in services/submissions/schema.py.

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
the steps in the same order, so the reasoning above holds for each (ADR 0001). Reads by
`_id` of requests in progress together are one `find` with `$in` per collection."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo.errors import BulkWriteError, OperationFailure

from services.common.batching import GroupCommit
from services.common.mongo import (
    DUPLICATE_KEY,
    ByIdReads,
    Upsert,
    all_stored_as,
    find_by_ids,
    stored_as,
    upsert_all,
    upsert_until_written,
)
from services.common.pagination import Key, PageRequest, page_of_query
from services.common.ports import Database
from services.common.schema import validated, validated_set, validated_update
from services.submissions.models import (
    Head,
    KeyPointer,
    OutboxEntry,
    StoredUnlock,
    Submission,
    Unlock,
)
from services.submissions.schema import (
    MarkerDoc,
    OutboxDoc,
    SubmissionDoc,
    SubmissionHeadDoc,
    SubmissionKeyDoc,
    UnlockDoc,
)

# The marker of the one-time backfill of pointers, heads and outbox entries for the
# submissions stored before they existed.
BACKFILL_MARKER = "backfill:keys-heads-outbox:v1"


async def _insert_else_upsert(coll: Any, writes: Sequence[tuple[Mapping[str, Any], Any]],
                              *, replace: bool = False) -> None:
    """Each (document, update): the document inserted where its `_id` is new, else the
    update (or, if `replace`, the document) applied to the one that exists: one unordered
    insert, then one bulk write of the few that existed. On FerretDB an insert costs a
    fraction of an upsert (which reads before it writes)."""
    if not writes:
        return
    try:
        await coll.insert_many([dict(doc) for doc, _ in writes], ordered=False)
        return
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        existing = [writes[e["index"]] for e in errors]
    upserts = [({"_id": doc["_id"]}, update) for doc, update in existing]
    # Lost a race with a concurrent first write of the same `_id`: it exists now.
    await upsert_until_written(coll, upserts, replace=replace)


def key_id(unit_id: str, key: str) -> str:
    return f"{unit_id}|{key}"


def head_id(unit_id: str, period: int) -> str:
    return f"{unit_id}|{period}"


class SubmissionStore:
    def __init__(self, db: Database, group_window: float = 0.002) -> None:
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
        self._by_id, self._key = ByIdReads(self.submissions), ByIdReads(self.keys)
        self._head, self._unlock = ByIdReads(self.heads), ByIdReads(self.unlocks)
        self._entry = ByIdReads(self.outbox)

    async def by_id(self, submission_id: str) -> Submission | None:
        return stored_as(Submission, await self._by_id.get(submission_id))

    async def key(self, unit_id: str, key: str) -> KeyPointer | None:
        return stored_as(KeyPointer, await self._key.get(key_id(unit_id, key)))

    async def by_key(self, unit_id: str, key: str) -> Submission | None:
        """The submission holding a key, by its fields: a scan on FerretDB, only for a
        key whose pointer a crash (or an older version) never wrote."""
        return stored_as(Submission, await self.submissions.find_one(
            {"unit_id": unit_id, "idempotency_key": key}))

    async def head(self, unit_id: str, period: int) -> Head | None:
        return stored_as(Head, await self._head.get(head_id(unit_id, period)))

    async def page_for(self, unit_id: str, period: int | None, page: PageRequest
                       ) -> tuple[list[Submission], Key | None]:
        """One page of the unit's submissions, by period and revision. A read path, rare
        and by a unit's person: the filter (an index on MongoDB) stays."""
        query: dict[str, Any] = {"unit_id": unit_id}
        if period is not None:
            query["period"] = period
        docs, after = await page_of_query(self.submissions, query,
                                          ("period", "revision", "_id"), page, {"event": 0})
        return all_stored_as(Submission, docs), after

    async def pend(self, doc: Submission, when: datetime) -> None:
        """The outbox entry, before the submission (a crash after it leaves at worst an
        entry the relay discards). `stored_at` is refreshed by each writer: the relay
        discards an entry without its submission only if it did not change meanwhile."""
        await self._pend((doc["_id"], doc["unit_id"], when))

    async def _pend_all(self, entries: list[tuple[str, str, datetime]]) -> list[None]:
        # New entries are inserted (cheaper than upserts on FerretDB); one that exists (a
        # retry of the same revision) is refreshed. Upserts racing another writer's upsert
        # of the same entry wrote the same thing.
        await _insert_else_upsert(self.outbox, [
            (validated(OutboxDoc, OutboxEntry(_id=sid, unit_id=unit_id, stored_at=when)),
             {"$set": validated_set(OutboxDoc, {"unit_id": unit_id, "stored_at": when}, sid)})
            for sid, unit_id, when in entries])
        return [None] * len(entries)

    async def insert(self, doc: Submission) -> bool:
        """Claim the revision (`_id`) and the idempotency key (unique index) in one
        insert; False if either is taken."""
        return await self._insert(validated(SubmissionDoc, doc))

    async def _insert_all(self, docs: list[Submission]) -> list[bool | Exception]:
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

    async def remember(self, doc: Submission) -> None:
        """The key pointer and the head for a stored submission; idempotent, and any
        order or repetition gives the same result."""
        await self._remember(doc)

    async def _remember_all(self, docs: list[Submission]) -> list[None]:
        pointers = [validated(SubmissionKeyDoc, KeyPointer(
            _id=key_id(d["unit_id"], d["idempotency_key"]), unit_id=d["unit_id"],
            submission_id=d["_id"], content_hash=d["content_hash"])) for d in docs]
        # A pointer is new but after a crash or a lost race (then it is replaced); a
        # concurrent upsert of a pointer wrote the same. Heads are raised on their own.
        await asyncio.gather(
            _insert_else_upsert(self.keys, [(p, p) for p in pointers], replace=True),
            self._raise_heads(docs))
        return [None] * len(docs)

    async def raise_head(self, doc: Submission | Head) -> None:
        await self._raise_heads([doc])

    async def _raise_heads(self, docs: Sequence[Submission | Head]) -> None:
        latest: dict[str, Submission | Head] = {}
        for d in docs:  # one write per head, the highest revision (`$max` anyway)
            hid = head_id(d["unit_id"], d["period"])
            if hid not in latest or latest[hid]["revision"] < d["revision"]:
                latest[hid] = d
        # A first report's head is new (inserted); an amendment's exists (raised, `$max`).
        heads = [(validated(SubmissionHeadDoc, Head(
                      _id=hid, unit_id=d["unit_id"], period=d["period"],
                      on_time=d["on_time"], revision=d["revision"])),
                  validated_update(SubmissionHeadDoc, {"$max": {"revision": d["revision"]}}, hid))
                 for hid, d in latest.items()]
        await _insert_else_upsert(self.heads, heads)

    async def mark_published(self, submission_id: str, when: datetime) -> None:
        await self._publish((submission_id, when))

    async def _mark_all_published(self, marks: list[tuple[str, datetime]]) -> list[None]:
        # Published is "no outbox entry" (the entry is written before the submission and
        # taken out once Kafka acknowledged it): one `delete_many` by `_id` `$in` for the
        # batch. The submission itself is not rewritten: on FerretDB an update of that ~5 KB
        # document cost 5-10 ms, the most expensive write of a request (docs/benchmarks.md).
        # `published: true` remains on revisions an older version marked.
        ids = list(dict.fromkeys(sid for sid, _ in marks))
        await self.outbox.delete_many({"_id": {"$in": ids}})
        return [None] * len(marks)

    async def unpublished(self, ids: list[str]) -> set[str]:
        """Those of `ids` not acknowledged by Kafka yet as far as the store knows: their
        outbox entry is still there (one read by `_id`, `$in` for several)."""
        if not ids:
            return set()
        if len(ids) == 1:
            return {ids[0]} if await self._entry.get(ids[0]) is not None else set()
        return set(await find_by_ids(self.outbox, ids))

    async def is_published(self, doc: Submission) -> bool:
        """Marked by an older version, or out of the outbox."""
        return bool(doc.get("published")) or not await self.unpublished([doc["_id"]])

    async def pending(self) -> list[OutboxEntry]:
        """Every outbox entry: a small collection (what is not on Kafka yet)."""
        return all_stored_as(OutboxEntry, await self.outbox.find({}).to_list(None))

    async def drop_entry(self, entry: OutboxEntry, *, unless_refreshed: bool) -> None:
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
        ops_heads: dict[str, Head] = {}
        for d in docs:
            ops_keys.append((
                {"_id": key_id(d["unit_id"], d["idempotency_key"])},
                {"$set": {"unit_id": d["unit_id"], "submission_id": d["_id"],
                          "content_hash": d["content_hash"]}}))
            hid = head_id(d["unit_id"], d["period"])
            if hid not in ops_heads or ops_heads[hid]["revision"] < d["revision"]:
                ops_heads[hid] = Head(_id=hid, unit_id=d["unit_id"], period=d["period"],
                                      revision=d["revision"], on_time=d["on_time"])
            # Runs once, on a database from before the outbox (whose revisions all say
            # whether they were published); a database made since has its marker.
            if not d.get("published"):
                ops_outbox.append((
                    {"_id": d["_id"]},
                    {"$setOnInsert": {"unit_id": d["unit_id"], "stored_at": d["stored_at"]}}))
        await upsert_all(self.keys, ops_keys)
        for head in ops_heads.values():
            await self.raise_head(head)
        await upsert_all(self.outbox, ops_outbox)
        await self.markers.replace_one(
            {"_id": BACKFILL_MARKER},
            validated(MarkerDoc, {"_id": BACKFILL_MARKER, "done_at": when,
                                  "submissions": len(docs)}), upsert=True)
        return len(docs)

    async def unlock_for(self, unit_id: str, period: int) -> StoredUnlock | None:
        return stored_as(StoredUnlock, await self._unlock.get(head_id(unit_id, period)))

    async def grant_unlock(self, unlock: Unlock) -> StoredUnlock:
        """An operator's unlock or lock of a unit's period, replacing the one before (`_id`
        = unit|period); the document as stored."""
        doc: StoredUnlock = {"_id": head_id(unlock["unit_id"], unlock["period"]), **unlock}
        await self.unlocks.replace_one({"_id": doc["_id"]}, validated(UnlockDoc, doc),
                                       upsert=True)
        return doc


