"""The scoring database: the score in force of each unit and period, every score ever
computed (by rubric version and revision), the rubric an operator chose for a period,
the cluster leadership register, and what was last published per stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from services.common.mongo import BulkUpdates, BulkUpserts, ByIdReads, find_by_ids, upsert_one
from services.common.pagination import Key, PageRequest, page_of_query
from services.common.ports import Database
from services.common.schema import validated, validated_update
from services.scoring.leadership import CONFIRMED, OVERRIDDEN
from services.scoring.models import LeadershipRecord, ScoreRecord
from services.scoring.schema import (
    CandidateDoc,
    LeadershipDoc,
    PendingRankingsDoc,
    PublicationDoc,
    RubricSelectionDoc,
    ScoreDoc,
    ScoreHistoryDoc,
    ScoringMetaDoc,
)
from services.scoring.standings import certificate_candidate

T = TypeVar("T")
D = TypeVar("D", ScoreRecord, LeadershipRecord)
# How many calls one caller keeps in flight at once (a rescore's units, a recomputation's
# changed clusters): enough to hide the round trips, few enough not to crowd out the
# consumers on the same server.
CONCURRENT_READS = 16
# The candidates' one-time backfill from existing scores (scoring_meta, `_id`).
CANDIDATES_BACKFILL = "certificate-candidates-backfill-v1"
# What a certificate candidate keeps of the score in force: what recognition_proposals
# reads of it (total, max, on time, arrival for the tie-break, the event id for the basis).
CANDIDATE_FIELDS = ("unit_id", "period", "unit_type", "total", "max", "on_time",
                    "first_received_at", "received_at", "rubric_version", "event_id")


def stored_as(model: type[D], doc: dict[str, Any] | None) -> D | None:
    """The store's boundary: a document read back as the model it was written as
    (schema.py checked it on its way in); a view for the type checker, nothing converted."""
    return cast("D | None", doc)


def flat_score(doc: dict[str, Any] | None) -> ScoreRecord | None:
    """A stored score as its readers want it (the store's boundary: schema.py checked it
    on its way in): a `scores` or `certificate_candidates` document is the score in force
    (`current`) with the document's `_id`, unit and period; a `score_history` document is
    one as it is."""
    if doc is not None and "current" in doc:
        doc = {**{k: v for k, v in doc.items() if k != "current"}, **doc["current"]}
    return stored_as(ScoreRecord, doc)


def score_key(unit_id: str, period: int) -> str:
    return f"{unit_id}|{period}"


def history_key(doc: ScoreRecord) -> str:
    return f"{doc['unit_id']}|{doc['period']}|{doc['rubric_version']}|r{doc['revision']}"


def candidate_key(period: int, unit_id: str) -> str:
    return f"{period}|{unit_id}"


def _in_force_value(doc: ScoreRecord, fields: Iterable[str] | None = None
                    ) -> dict[str, Any]:
    """The embedded `current` of `scores` and `certificate_candidates` (only `fields` of
    `doc`, if given): the revision and `seq` first, so `$max` keeps the newest revision
    and of one revision the latest scoring."""
    rest = {k: v for k, v in doc.items() if k not in ("_id", "revision", "seq")}
    if fields is not None:
        rest = {k: rest.get(k) for k in fields}
    return {"revision": doc["revision"], "seq": int(doc.get("seq") or 0), **rest}


async def gather_bounded(calls: Iterable[Awaitable[T]], limit: int = CONCURRENT_READS
                         ) -> list[T]:
    """asyncio.gather with at most `limit` of the calls in flight, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))


class ScoreStore:
    def __init__(self, db: Database) -> None:
        self.scores = db["scores"]
        self.history = db["score_history"]
        self.selections = db["rubric_selections"]
        self.publications = db["publications"]
        self.pending = db["rankings_pending"]
        self.candidates = db["certificate_candidates"]
        self.meta = db["scoring_meta"]
        # The reads by `_id` of a batch's records, handled concurrently, in one query.
        self._score_reads = ByIdReads(self.scores)
        self._history_reads = ByIdReads(self.history)
        self._selection_reads = ByIdReads(self.selections)
        # ... and their idempotent upserts, in one bulk write per collection.
        self._history_writes = BulkUpserts(self.history, replace=True)
        self._candidate_writes = BulkUpserts(self.candidates)
        self._score_writes = BulkUpdates(self.scores)

    async def save(self, doc: ScoreRecord, *, in_history: bool = False,
                   current: ScoreRecord | None = None, read: bool = True) -> bool:
        """Keep `doc` in the history and make it current unless a newer revision is in
        force. Returns whether `doc` is (now) the score in force, so a redelivery
        re-emits the same event. `in_history`: `doc` is the kept score itself (nothing
        to write there). `read=False`: `current` is the score in force as the caller
        just read it (a stale read only costs a write that changes nothing).

        The score in force is one embedded document, `current`, that starts with the
        revision and `seq` (wall-clock microseconds of the scoring, so a rescore of the
        same revision orders after it), written with `$max` by `_id`: MongoDB and
        FerretDB compare embedded documents field by field, so the newest revision (and
        of one revision the latest scoring) wins in any order, with no read and no
        filter but `{_id}` (FerretDB scans for any other)."""
        key = score_key(doc["unit_id"], doc["period"])
        if not in_history:
            hid = history_key(doc)
            await self._history_writes({"_id": hid},
                                       validated(ScoreHistoryDoc, {**doc, "_id": hid}))
        if read:
            current = await self.current(doc["unit_id"], doc["period"])
        if current is not None:
            if current["revision"] > doc["revision"]:
                return False  # a newer revision is in force: nothing to write
            if current.get("event_id") == doc["event_id"]:
                # This very score is in force (a redelivery): nothing to write there; its
                # candidate again, in case the process died between the two writes.
                await self.keep_candidate(doc)
                return True
        update = validated_update(ScoreDoc, {
            "$setOnInsert": {"unit_id": doc["unit_id"], "period": doc["period"]},
            "$max": {"current": _in_force_value(doc)}}, key)
        # One bulk write for the batch's records; None: the bulk's counts cannot tell
        # whether this write changed the document, so it is read back (by `_id`).
        if await self._score_writes({"_id": key}, update):
            # A candidate can be stored only if the score replaced was one.
            await self.keep_candidate(doc, was_candidate=current is not None and
                                      certificate_candidate(current))
            return True
        stored = await self.current(doc["unit_id"], doc["period"])
        in_force = stored is not None and stored.get("event_id") == doc["event_id"]
        if in_force:
            await self.keep_candidate(doc)
        return in_force

    # -- certificate candidates: found per period without reading `scores` --------------

    async def keep_candidate(self, doc: ScoreRecord, *, was_candidate: bool = True
                             ) -> None:
        """Make the unit's certificate candidate reflect `doc`, the score in force: kept
        (by `$max`, so a newer revision's candidate is never replaced by an older one's)
        if it qualifies, else deleted. `was_candidate=False`: the score it replaced did
        not qualify either, so there is nothing to delete. Both by `_id`."""
        key = candidate_key(doc["period"], doc["unit_id"])
        if not certificate_candidate(doc):
            if was_candidate:
                await self.candidates.delete_one({"_id": key})
            return
        update = validated_update(CandidateDoc, {
            "$setOnInsert": {"unit_id": doc["unit_id"], "period": doc["period"]},
            "$max": {"current": _in_force_value(doc, CANDIDATE_FIELDS)}}, key)
        await self._candidate_writes({"_id": key}, update)

    async def candidates_of(self, period: int) -> dict[str, ScoreRecord]:
        """unit id -> what the proposals read of its score in force, for every candidate
        of the period. `{period}` has no `_id`: on FerretDB it reads the candidates
        collection (candidates of every period, a few percent of `scores`), never
        `scores`; on MongoDB the `period` index serves it."""
        out = {}
        for raw in await self.candidates.find({"period": period}).to_list(None):
            doc = flat_score(raw)
            if doc is not None:
                out[str(doc["unit_id"])] = doc
        return out

    async def backfill_candidates(self) -> int | None:
        """Once per database: the candidates of the scores stored before candidates were
        kept (a marker in `scoring_meta`, read by `_id`, says it is done). Reads all of
        `scores` once; each candidate is then written from its score in force read again
        by `_id`, so a score that changed meanwhile is not undone. Idempotent: workers
        that start together may each run it. Returns the candidates written, or None if
        it was done already."""
        if await self.meta.find_one({"_id": CANDIDATES_BACKFILL}) is not None:
            return None
        found = []
        async for raw in self.scores.find({}):
            doc = flat_score(raw)
            if doc is not None and "revision" in doc and certificate_candidate(doc):
                found.append((str(doc["unit_id"]), int(doc["period"])))
        written = 0
        for unit_id, period in found:
            now = await self.current(unit_id, period)
            if now is not None:
                await self.keep_candidate(now)
                written += certificate_candidate(now)
        await self.meta.replace_one(
            {"_id": CANDIDATES_BACKFILL},
            validated(ScoringMetaDoc, {"done_at": datetime.now(UTC).isoformat(),
                                       "candidates": written}), upsert=True)
        return written

    async def kept(self, doc: ScoreRecord) -> ScoreRecord | None:
        """The stored score of the same unit, period, rubric version and revision."""
        return flat_score(await self._history_reads.get(history_key(doc)))

    async def current(self, unit_id: str, period: int) -> ScoreRecord | None:
        return flat_score(await self._score_reads.get(score_key(unit_id, period)))

    async def by_version(self, unit_id: str, period: int, version: str
                         ) -> ScoreRecord | None:
        """The latest revision's score under a rubric version (current or not)."""
        docs = await self.history.find(
            {"unit_id": unit_id, "period": period, "rubric_version": version}
        ).sort("revision", DESCENDING).limit(1).to_list(1)
        return flat_score(docs[0]) if docs else None

    async def history_page(self, unit_id: str, period: int, page: PageRequest
                           ) -> tuple[list[ScoreRecord], Key | None]:
        """One page of the unit's scores of the period, by revision."""
        docs, after = await page_of_query(
            self.history, {"unit_id": unit_id, "period": period}, ("revision", "_id"), page)
        return [score for doc in docs if (score := flat_score(doc))], after

    async def scores_of(self, unit_ids: Iterable[str], period: int
                        ) -> dict[str, ScoreRecord]:
        """unit id -> score in force, for these units of the period (those with one):
        reads by `_id` with `$in`, up to ID_CHUNK ids a read (the patched FerretDB, like
        MongoDB, answers them from the `_id` index: ADR 0002)."""
        units = sorted(set(unit_ids))
        found = await find_by_ids(self.scores, [score_key(u, period) for u in units])
        return {u: doc for u in units
                if (doc := flat_score(found.get(score_key(u, period)))) is not None}

    # -- periods whose standings and proposals are still to be published --------------

    async def mark_pending(self, period: int, unit_ids: Iterable[str]) -> str:
        """Note (durably, by `_id`) that these units' scores changed the period; a new
        token each time, so a recomputation that read the scores before this marking
        cannot delete it (unmark_pending). Returns the token."""
        token = uuid.uuid4().hex
        update = validated_update(PendingRankingsDoc, {
            "$set": {"token": token, "period": period},
            "$addToSet": {"units": {"$each": sorted(set(unit_ids))}}}, period)
        await upsert_one(self.pending, {"_id": str(period)}, update)
        return token

    async def pending_periods(self) -> dict[int, tuple[str, list[str]]]:
        """period -> (token, units) of every pending marker (a handful of documents)."""
        return {int(d["_id"]): (str(d["token"]), list(d.get("units") or []))
                for d in await self.pending.find({}).to_list(None)}

    async def unmark_pending(self, period: int, token: str) -> bool:
        """Delete the marker unless it was marked again since `token` was read."""
        result = await self.pending.delete_one({"_id": str(period), "token": token})
        return result.deleted_count == 1

    # -- the rubric chosen by an operator for a period ---------------------------------

    async def selected(self, unit_type: str, period: int) -> str | None:
        doc = await self._selection_reads.get(f"{unit_type}|{period}")
        return str(doc["rubric_version"]) if doc else None

    async def select(self, unit_type: str, period: int, version: str, at: datetime
                     ) -> None:
        await self.selections.replace_one(
            {"_id": f"{unit_type}|{period}"},
            validated(RubricSelectionDoc, {"unit_type": unit_type, "period": period,
                                           "rubric_version": version, "selected_at": at}),
            upsert=True)

    # -- what was last published, to publish only changes -----------------------------

    async def published(self, stream: str) -> str | None:
        doc = await self.publications.find_one({"_id": stream})
        return str(doc["hash"]) if doc else None

    async def mark_published(self, stream: str, content_hash: str) -> None:
        await self.publications.replace_one(
            {"_id": stream}, validated(PublicationDoc, {"hash": content_hash}), upsert=True)


class LeadershipStore:
    """The register of cluster heads and deputies, one document per cluster and year."""

    def __init__(self, db: Database) -> None:
        self.register = db["leadership"]

    async def get(self, cluster_id: str, period: int) -> LeadershipRecord | None:
        found = await self.register.find_one({"_id": f"{cluster_id}|{period}"})
        return stored_as(LeadershipRecord, found)

    async def decisions(self, cluster_id: str, periods: Iterable[int]
                        ) -> list[LeadershipRecord]:
        """The operator's decisions of the cluster for these years, read by `_id` (one
        `$in` read); suggestions are left out."""
        years = sorted(set(periods))
        found = await find_by_ids(self.register, [f"{cluster_id}|{y}" for y in years])
        docs = [stored_as(LeadershipRecord, found.get(f"{cluster_id}|{y}")) for y in years]
        return [d for d in docs if d is not None and d.get("status") in (CONFIRMED, OVERRIDDEN)]

    async def decided(self) -> list[LeadershipRecord]:
        """The operator's decisions, every cluster and year (one read for many clusters;
        a scan of `leadership` on FerretDB: no hot path uses it any more)."""
        found = await self.register.find(
            {"status": {"$in": [CONFIRMED, OVERRIDDEN]}}).to_list(None)
        return [d for raw in found if (d := stored_as(LeadershipRecord, raw))]

    async def suggest(self, doc: LeadershipRecord) -> bool:
        """Record a suggestion unless an operator decided that year; False if decided."""
        key = f"{doc['cluster_id']}|{doc['period']}"
        try:
            await self.register.replace_one({"_id": key, "status": "suggested"},
                                            validated(LeadershipDoc, {**doc, "_id": key}),
                                            upsert=True)
        except DuplicateKeyError:
            return False
        return True
