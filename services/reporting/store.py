"""The reporting read models, built only from the topics (so a replay rebuilds them).

Every write is idempotent and order-insensitive, so a redelivered event, a replay, or a
replay running beside the live consumers all end in the same state. The writes are
`_id`-first: FerretDB answers only a filter that is exactly `{_id}` from its index and
reads every document of the collection for any other, so each write reads (or
remembers) the stored document by `_id`, decides in Python, and sends at most the one
write that can still change it. That write keeps its condition (`order < new`,
`revision < r`, ...), for the second writer a replay beside the live agents is."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from pymongo import InsertOne, ReplaceOne, UpdateOne
from pymongo.errors import DuplicateKeyError

from services.common.kafka import TransientError
from services.common.mongo import BulkUpdates, BulkWrites, bson, stored_as
from services.common.ports import Collection, Database
from services.common.schema import validated, validated_update
from services.reporting.freshness import WATERMARK_SECONDS, Versions, Watermark
from services.reporting.models import (
    FirstReport,
    LatestRevision,
    LeadershipDoc,
    ProposalsDoc,
    ReminderDoc,
    RemindersByUnit,
    ReportBase,
    ReportsByUnit,
    ScoreDoc,
    ScoresByUnit,
    StandingsDoc,
    UnitReport,
)
from services.reporting.projections import parse_time, unit_key
from services.reporting.schema import BY_COLLECTION, ReportDoc
from services.reporting.write_cache import ATTEMPTS, Known, below

# The collections the national synthesis reads by period (the version token's writes).
VERSIONED = frozenset({"rm_submissions", "rm_scores", "rm_reminders", "rm_proposals"})

# A document kept whole and replaced only by one of a greater `order`.
Ordered = ScoreDoc | ReminderDoc | StandingsDoc | ProposalsDoc | LeadershipDoc


async def _stored(coll: Collection, key: str, keep: tuple[str, ...]
                  ) -> tuple[Any, frozenset[str]] | None:
    """The stored `order` of `key` and the `keep` fields it has; None if absent."""
    doc = await coll.find_one({"_id": key}, {"order": 1, **dict.fromkeys(keep, 1)})
    if doc is None:
        return None
    return doc.get("order"), frozenset(k for k in keep if doc.get(k) is not None)


def flat_report(doc: dict[str, Any]) -> UnitReport:
    """A `rm_submissions` document as the reports read it: its first-report and
    latest-revision parts (kept apart so each is one `$min`/`$max`) beside its base."""
    first, latest = doc.get("first") or {}, doc.get("latest") or {}
    return stored_as(UnitReport, {**{k: v for k, v in doc.items() if k not in ("first", "latest")},
                               **first, **latest})


class ReadModel:
    def __init__(self, db: Database, *,
                 watermark_seconds: float = WATERMARK_SECONDS) -> None:
        self.db = db
        self.reports = db["rm_submissions"]
        self.scores = db["rm_scores"]
        self.reminders = db["rm_reminders"]
        self.standings = db["rm_standings"]
        self.proposals = db["rm_proposals"]
        self.leadership = db["rm_leadership"]
        self.meta = db["rm_meta"]
        self.known = {c.name: Known() for c in (self.reports, self.scores, self.reminders,
                                                self.standings, self.proposals,
                                                self.leadership)}
        self.epoch = 0  # odd while drop_all runs; bumped at its start and its end
        self.watermark = Watermark(self.meta, watermark_seconds)
        self.versions = Versions(self.meta)
        self._submission_writes = BulkUpdates(self.reports)
        # A batch's inserts and conditional replacements, one bulk write per collection.
        self.bulk = {c.name: BulkWrites(c) for c in (self.scores, self.reminders,
                                                     self.standings, self.proposals,
                                                     self.leadership)}

    def _remember(self, coll: Collection, key: str, value: tuple[Any, Any], epoch: int) -> None:
        if epoch == self.epoch and epoch % 2 == 0:
            self.known[coll.name].put(key, value)

    # -- writes (from events) ---------------------------------------------------------

    async def apply_submission(self, key: str, base: ReportBase, first: FirstReport,
                               latest: LatestRevision) -> bool:
        """One write by `_id`, whatever the order of the revisions: `first` (which starts
        with `first_revision`) is kept with `$min` and `latest` (which starts with
        `revision`) with `$max`. MongoDB, and FerretDB 1.24 alike, compare embedded
        documents field by field in order, so the lower (higher) revision wins and the
        same revision again changes nothing. No read, and no filter but `{_id}` (FerretDB
        scans for any other). An event known to change nothing is not sent at all.
        True if the document changed. The period's version token changes after it."""
        changed = await self._apply_submission(key, base, first, latest)
        await self.versions.settle(int(base["period"]))
        return changed

    async def _apply_submission(self, key: str, base: ReportBase, first: FirstReport,
                                latest: LatestRevision) -> bool:
        rev, epoch = int(latest["revision"]), self.epoch
        bounds = self.known[self.reports.name].get(key)  # (first_revision, revision)
        if bounds is not None and not below(rev, bounds[0]) and not below(bounds[1], rev):
            return False  # neither an earlier first report nor a later revision
        update = validated_update(ReportDoc, {
            "$setOnInsert": base, "$min": {"first": first}, "$max": {"latest": latest}}, key)
        try:
            # The batch's writes in one bulk write (they commute); a write whose effect
            # the bulk's counts cannot tell counts as a change (only a metric says it).
            changed = await self._submission_writes({"_id": key}, update)
        finally:
            self.versions.wrote(int(base["period"]))
        low, high = bounds if bounds is not None else (rev, rev)
        if isinstance(low, int) and isinstance(high, int):
            self._remember(self.reports, key, (min(low, rev), max(high, rev)), epoch)
        return changed is not False

    # Scores, reminders and proposals are read by the national synthesis: their period's
    # version token changes after each write. Standings and leadership are not.

    async def apply_score(self, doc: ScoreDoc) -> bool:
        return await self._versioned(doc, self._replace_if_newer(self.scores, doc))

    async def apply_reminder(self, doc: ReminderDoc) -> bool:
        # A later status event may not repeat when the reminder went out: keep it.
        return await self._versioned(
            doc, self._replace_if_newer(self.reminders, doc, keep=("sent_at",)))

    async def apply_standings(self, doc: StandingsDoc) -> bool:
        return await self._replace_if_newer(self.standings, doc)

    async def apply_proposals(self, doc: ProposalsDoc) -> bool:
        return await self._versioned(doc, self._replace_if_newer(self.proposals, doc))

    async def _versioned(self, doc: Ordered, write: Awaitable[bool]) -> bool:
        changed = await write
        await self.versions.settle(int(doc["period"]))
        return changed

    async def apply_leadership(self, doc: LeadershipDoc) -> bool:
        return await self._replace_if_newer(self.leadership, doc)

    async def _replace_if_newer(self, coll: Collection, typed: Ordered,
                                keep: tuple[str, ...] = ()) -> bool:
        """Store `doc` unless the stored one has the same or a greater `order`; True if
        stored. A `keep` field the stored document has is never unset by a newer doc
        without it, and a stale doc still fills it in when the stored one lacks it (so
        the result does not depend on which status event came first).

        New `_id`: one insert (taken: read it by `_id`, then as below). Known `_id`,
        newer doc: one conditional write (`{_id, order: {$lt: new}}`, upsert for a
        document dropped meanwhile; a duplicate key: another writer was first, read it
        again). Known `_id`, stale doc: nothing, or the fill."""
        doc = validated(BY_COLLECTION[coll.name], bson(typed))
        key, order, epoch = doc["_id"], doc["order"], self.epoch
        # Only the collections the national synthesis reads count for the version token.
        period = int(doc["period"]) if coll.name in VERSIONED else None
        fill = {k: doc[k] for k in keep if doc.get(k) is not None}
        known = self.known[coll.name].get(key)  # (order, kept fields it has)
        for _ in range(ATTEMPTS):
            if known is None:
                try:
                    inserted = await self._insert(coll, doc)
                finally:
                    self.versions.wrote(period)
                if inserted:
                    self._remember(coll, key, (order, frozenset(fill)), epoch)
                    return True
                known = await _stored(coll, key, keep)
                if known is None:
                    continue  # dropped meanwhile: insert again
            stored_order, filled = known
            if below(stored_order, order):
                condition = {"_id": key, "order": {"$lt": order}}
                try:
                    if keep:  # $set leaves a kept field the doc lacks as stored
                        await self.bulk[coll.name](UpdateOne(condition, {"$set": {
                            k: v for k, v in doc.items()
                            if k != "_id" and not (k in keep and v is None)}}, upsert=True))
                    else:
                        await self.bulk[coll.name](ReplaceOne(condition, doc, upsert=True))
                except DuplicateKeyError:
                    # Stored meanwhile, by a writer that was first: look at what it wrote.
                    known = await _stored(coll, key, keep)
                    continue
                finally:
                    self.versions.wrote(period)
                self._remember(coll, key, (order, filled | set(fill)), epoch)
                return True
            for field, value in fill.items():
                if field not in filled:
                    try:
                        await coll.update_one({"_id": key, field: None},
                                              {"$set": {field: value}})
                    finally:
                        self.versions.wrote(period)
            self._remember(coll, key, (stored_order, filled | set(fill)), epoch)
            return False
        raise TransientError(f"{coll.name} {key} kept disappearing during the write")

    async def _insert(self, coll: Collection, doc: dict[str, Any]) -> bool:
        """Insert `doc`; False if its `_id` is taken (in the batch's bulk write)."""
        try:
            await self.bulk[coll.name](InsertOne(doc))
        except DuplicateKeyError:
            return False
        return True

    async def advance_watermark(self, when: datetime | None) -> None:
        await self.watermark.advance(when)

    async def flush(self) -> None:
        """Write what is held back (the watermark): before a process that wrote exits."""
        await self.watermark.flush()

    # -- reads --------------------------------------------------------------------------

    async def reports_for(self, period: int) -> ReportsByUnit:
        docs = await self.reports.find({"period": period}).to_list(None)
        return {d["unit_id"]: flat_report(d) for d in docs}

    async def scores_for(self, period: int) -> ScoresByUnit:
        docs = await self.scores.find({"period": period}).to_list(None)
        return {d["unit_id"]: stored_as(ScoreDoc, d) for d in docs}

    async def reminders_for(self, period: int) -> RemindersByUnit:
        out: RemindersByUnit = {}
        for d in await self.reminders.find({"period": period}).to_list(None):
            out.setdefault(d["unit_id"], []).append(stored_as(ReminderDoc, d))
        return out

    async def standings_of(self, cluster_id: str, period: int) -> StandingsDoc | None:
        return stored_as(StandingsDoc,
                      await self.standings.find_one({"_id": unit_key(cluster_id, period)}))

    async def proposals_of(self, period: int) -> ProposalsDoc | None:
        return stored_as(ProposalsDoc, await self.proposals.find_one({"_id": str(period)}))

    async def leadership_of(self, cluster_id: str, period: int) -> LeadershipDoc | None:
        return stored_as(LeadershipDoc,
                      await self.leadership.find_one({"_id": unit_key(cluster_id, period)}))

    async def version(self, period: int) -> str:
        """A token that changes whenever what `reports_for`, `scores_for`,
        `reminders_for` or `proposals_of` answer for `period` may have changed."""
        return await self.versions.token(period)

    async def last_event_at(self) -> datetime | None:
        """The newest event time applied: the stored watermark, or a newer one this
        process applied and has not written yet (held back at most `watermark_seconds`)."""
        doc = await self.meta.find_one({"_id": "watermark"})
        stored = parse_time(doc.get("last_event_at")) if doc else None
        held = self.watermark.held
        return max(stored, held) if stored and held else stored or held

    # -- rebuild ------------------------------------------------------------------------

    async def drop_all(self, documents: list[Any]) -> None:
        """Drop every read-model collection, then recreate their indexes. What this
        process remembers of them is forgotten before and after (the epoch is odd in
        between, so a write overlapping the drop is not remembered either)."""
        self._forget()
        try:
            for doc in documents:
                await self.db.drop_collection(doc._get_collection_name())
            # mongoengine creates indexes through its own (synchronous) connection.
            await asyncio.to_thread(lambda: [d.ensure_indexes() for d in documents])
        finally:
            self._forget()

    def _forget(self) -> None:
        self.epoch += 1
        for known in self.known.values():
            known.clear()
        self.watermark.forget()
