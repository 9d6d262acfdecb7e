"""The notifications database: who reported, the campaigns, the reminder ledger and
what is pending, and an outbox of events. The repositories use the async pymongo
database; each document is checked against its class (schema.py) before it is written.

Every exclusive step is an insert with a deterministic `_id` (duplicate key = someone
else has it), because FerretDB has no transactions and no atomic findAndModify."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import ConnectionFailure

from services.common.batching import GroupCommit
from services.common.contracts import SubmissionAcceptedV1
from services.common.mongo import (
    BulkUpserts,
    ByIdReads,
    all_stored_as,
    bson,
    insert_new,
    stored_as,
    upsert_one,
)
from services.common.ports import Database
from services.common.schema import validated, validated_set, validated_update
from services.notifications.models import (
    LedgerEntry,
    Milestone,
    OutboxEntry,
    ProviderMessage,
    RoundClaim,
    StoredCampaign,
    UnitStatus,
    Unresolved,
    Wait,
)
from services.notifications.schema import (
    CampaignDoc,
    DeferralDoc,
    LedgerDoc,
    MarkerDoc,
    MilestoneDoc,
    OpenClaimDoc,
    OutboxDoc,
    PeriodStatusDoc,
    ProviderMessageDoc,
    RoundClaimDoc,
    UnitStatusDoc,
    UnresolvedDoc,
)

# Markers of the one-time backfills of structures derived from older data.
PERIOD_STATUS_BACKFILL = "backfill:period-status:v1"
OPEN_CLAIMS_BACKFILL = "backfill:open-claims:v1"
UNRESOLVED_BACKFILL = "backfill:unresolved:v1"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def _upsert(coll: Any, _id: str, update: dict[str, Any]) -> None:
    """update_one with upsert; two concurrent upserts of a new `_id` may both try to
    insert on FerretDB, and the loser gets a duplicate key: the document exists then,
    update it."""
    await upsert_one(coll, {"_id": _id}, update)


def unit_field(unit_id: str) -> str:
    """A unit id as a field name (no `.`, no `$`; reversible)."""
    return unit_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def unit_of_field(name: str) -> str:
    return name.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


class Backfills:
    """One-time backfills, each guarded by a marker document read by `_id`: once per
    database the older data is read (a scan) and the derived documents written; then
    each process only reads the marker, once."""

    def __init__(self, db: Database) -> None:
        self.markers = db["markers"]
        self._done: set[str] = set()
        self._lock = asyncio.Lock()

    async def ensure(self, marker: str, fill: Callable[[], Awaitable[int]]) -> None:
        if marker in self._done:
            return
        async with self._lock:
            if marker in self._done:
                return
            if await self.markers.find_one({"_id": marker}) is None:
                count = await fill()
                await self.markers.replace_one({"_id": marker}, validated(
                    MarkerDoc, {"_id": marker, "documents": count}), upsert=True)
            self._done.add(marker)


class StatusStore:
    def __init__(self, db: Database, backfills: Backfills | None = None) -> None:
        self.status = db["unit_status"]
        self.periods = db["period_status"]
        self.backfills = backfills or Backfills(db)
        # Notes made together (a batch's records, handled concurrently) are one write
        # per period: concurrent updates of one document lose writes on FerretDB.
        self._status_writes = BulkUpserts(self.status)
        self._notes: GroupCommit[tuple[str, int, bool], None] = GroupCommit(
            self._note_all, window=0.0, max_items=1000)

    async def record_submission(self, data: SubmissionAcceptedV1) -> None:
        """Idempotent; an amendment updates the latest revision, not the first report."""
        key = f"{data['unit_id']}|{data['period']}"
        await self._status_writes({"_id": key}, validated_update(UnitStatusDoc, {
            "$setOnInsert": {"unit_id": data["unit_id"], "period": data["period"],
                             "first_submission_id": data["submission_id"],
                             "first_received_at": data["received_at"],
                             "on_time": data["on_time"]},
            "$max": {"latest_revision": data["revision"]}}, key))
        await self.note(data["unit_id"], data["period"], bool(data["on_time"]))

    async def note(self, unit_id: str, period: int, on_time: bool) -> None:
        """Add the unit to its period's document. `$max`: a later revision is never more
        on time than the first (time only moves forward), so the field keeps the first
        report's timeliness whatever the order and however often it is written."""
        await self._notes((unit_id, period, on_time))

    async def _note_all(self, notes: list[tuple[str, int, bool]]) -> list[None]:
        by_period: dict[int, dict[str, bool]] = {}
        for unit_id, period, on_time in notes:
            fields = by_period.setdefault(period, {})
            key = f"units.{unit_field(unit_id)}"
            fields[key] = fields.get(key, False) or on_time  # what $max keeps
        for period, fields in by_period.items():
            await _upsert(self.periods, str(period), validated_update(
                PeriodStatusDoc, {"$set": {"period": period}, "$max": fields}, period))
        return [None] * len(notes)

    async def prepare(self) -> None:
        """Period documents for the reports recorded before they existed (once)."""
        await self.backfills.ensure(PERIOD_STATUS_BACKFILL, self._backfill)

    async def _backfill(self) -> int:
        by_period: dict[int, dict[str, bool]] = {}
        docs = await self.status.find({}).to_list(None)
        for d in docs:
            by_period.setdefault(int(d["period"]), {})[d["unit_id"]] = bool(d.get("on_time"))
        for period, units in by_period.items():
            await _upsert(self.periods, str(period), {
                "$set": {"period": period},
                "$max": {f"units.{unit_field(u)}": t for u, t in units.items()}})
        return len(docs)

    async def submitted(self, period: int) -> dict[str, bool]:
        """unit -> reported on time, for the units that reported in the period."""
        await self.prepare()
        doc = await self.periods.find_one({"_id": str(period)})
        return {unit_of_field(k): bool(v) for k, v in ((doc or {}).get("units") or {}).items()}

    async def of_unit(self, unit_id: str, period: int) -> UnitStatus | None:
        doc = await self.status.find_one({"_id": f"{unit_id}|{period}"})
        return stored_as(UnitStatus, doc) if doc is not None else None


class CampaignStore:
    def __init__(self, db: Database) -> None:
        self.coll = db["campaigns"]
        self._reads = ByIdReads(self.coll)  # a batch's records: one read

    async def get(self, period: int) -> StoredCampaign | None:
        doc = await self._reads.get(str(period))
        return stored_as(StoredCampaign, doc) if doc is not None else None

    async def all(self) -> list[StoredCampaign]:
        found = await self.coll.find({}).to_list(None)
        return sorted(all_stored_as(StoredCampaign, found), key=lambda d: d["period"])

    async def create(self, spec: StoredCampaign) -> bool:
        """Only if the period has none yet (an operator's campaign is never replaced)."""
        return await insert_new(self.coll, validated(
            CampaignDoc, {"_id": str(spec["period"]), **spec}))

    async def put(self, spec: StoredCampaign) -> None:
        await self.coll.replace_one({"_id": str(spec["period"])}, validated(
            CampaignDoc, {"_id": str(spec["period"]), **spec}), upsert=True)

    async def set_paused(self, period: int, paused: bool, when: datetime) -> bool:
        result = await self.coll.update_one(
            {"_id": str(period)}, {"$set": validated_set(
                CampaignDoc, {"paused": paused, "paused_changed_at": when}, period)})
        return bool(result.matched_count)


class LedgerStore:
    def __init__(self, db: Database, backfills: Backfills | None = None) -> None:
        self.ledger = db["ledger"]
        self.open = db["open_claims"]
        self.unresolved_coll = db["unresolved"]
        self.deferrals = db["deferrals"]
        self._deferral_reads = ByIdReads(self.deferrals)
        self.rounds = db["round_claims"]
        self.messages = db["provider_messages"]
        self.backfills = backfills or Backfills(db)

    # -- the ledger --------------------------------------------------------------------
    async def claim(self, doc: LedgerEntry) -> bool:
        """Insert the reminder's entry; False if someone else has it."""
        validated(LedgerDoc, bson(doc))
        if doc.get("status") != "sending":
            return await self._insert_claim(doc)
        await self._opened(doc["_id"], doc["unit_id"], doc["touched_at"])
        if await self._insert_claim(doc):
            return True
        # Taken: the open claim is the holder's while its entry is `sending`.
        held = await self.get(doc["_id"])
        if held is None or held.get("status") != "sending":
            await self.closed(doc["_id"])
        return False

    async def _insert_claim(self, doc: LedgerEntry) -> bool:
        """The insert that claims; an insert the database applied whose reply was lost
        (the connection dropped: pymongo raises, or retries and meets its own duplicate)
        is recognised by its `claim_token` and is ours. Without a token, or when the
        entry cannot be read back, the error stands (nothing is sent; a claim that was
        applied is then abandoned, reported and resolved)."""
        try:
            if await insert_new(self.ledger, bson(doc)):
                return True
        except ConnectionFailure:  # AutoReconnect, NetworkTimeout: applied or not
            if not doc.get("claim_token"):
                raise
            held = await self.get(doc["_id"])
            if held is None:
                raise
            return bool(held.get("claim_token") == doc["claim_token"])
        if not doc.get("claim_token"):
            return False
        held = await self.get(doc["_id"])
        return held is not None and held.get("claim_token") == doc["claim_token"]

    async def get(self, key: str) -> LedgerEntry | None:
        doc = await self.ledger.find_one({"_id": key})
        return stored_as(LedgerEntry, doc) if doc is not None else None

    async def update(self, key: str, fields: LedgerEntry, *, owner: str | None = None,
                     where: dict[str, Any] | None = None) -> bool:
        """Set `fields` on the entry if it matches `where` (a filter) and, when given,
        belongs to `owner`; False if it did not."""
        query = {"_id": key, **(where or {})}
        if owner is not None:
            query["owner"] = owner
        status = fields.get("status")
        if status == "sending":  # a retry round: open before the entry says so
            await self._opened(key, fields.get("unit_id"), fields.get("touched_at"))
        if status == "unknown":  # to be resolved: noted before the entry says so
            await _upsert(self.unresolved_coll, key, {"$set": validated_set(UnresolvedDoc, {
                "unit_id": fields.get("unit_id") or key.split("|")[1],
                "since": datetime.now(UTC)}, key)})
        result = await self.ledger.update_one(
            query, {"$set": validated_set(LedgerDoc, bson(fields), key)})
        if status is not None and status != "sending" and result.matched_count:
            await self.closed(key)
        return bool(result.matched_count)

    async def release(self, key: str, owner: str) -> None:
        """Give a claim back before anything was sent (the campaign was paused)."""
        result = await self.ledger.delete_one({"_id": key, "owner": owner, "status": "sending"})
        if result.deleted_count:
            await self.closed(key)

    async def of_period(self, period: int) -> list[LedgerEntry]:
        return [stored_as(LedgerEntry, d)
                for d in await self.ledger.find({"period": period}).to_list(None)]

    # -- open claims (entries in `sending`) ------------------------------------------------
    async def _opened(self, key: str, unit_id: str | None, since: datetime | None) -> None:
        await _upsert(self.open, key, {"$set": validated_set(OpenClaimDoc, {
            "unit_id": unit_id or key.split("|")[1], "since": since}, key)})

    async def closed(self, key: str) -> None:
        await self.open.delete_one({"_id": key})

    async def open_claims(self) -> list[LedgerEntry]:
        """The keys that may be in `sending` (`unit_id`, `touched_at` when claimed): a
        read of the small open_claims collection, never of the ledger."""
        await self.backfills.ensure(OPEN_CLAIMS_BACKFILL, self._backfill_open)
        docs = await self.open.find({}).to_list(None)
        return [{"_id": d["_id"], "unit_id": d["unit_id"], "touched_at": d.get("since") or EPOCH}
                for d in docs]

    async def _backfill_open(self) -> int:
        """Open claims for the `sending` entries of a ledger older than them (once)."""
        found = await self.ledger.find({"status": "sending"}).to_list(None)
        for e in found:
            await self._opened(e["_id"], e["unit_id"], e.get("touched_at"))
        return len(found)

    # -- unknown outcomes still to resolve -------------------------------------------------
    async def unresolved(self) -> list[Unresolved]:
        """The keys that may be `unknown` and unresolved (`unit_id`, `since`): a read of
        the small `unresolved` collection, never of the ledger."""
        await self.backfills.ensure(UNRESOLVED_BACKFILL, self._backfill_unresolved)
        docs = await self.unresolved_coll.find({}).to_list(None)
        return [{"_id": d["_id"], "unit_id": d["unit_id"], "since": d.get("since") or EPOCH}
                for d in docs]

    async def resolved(self, key: str) -> None:
        await self.unresolved_coll.delete_one({"_id": key})

    async def _backfill_unresolved(self) -> int:
        """The `unknown` entries of a ledger older than the resolver (once)."""
        found = await self.ledger.find({"status": "unknown"}).to_list(None)
        for e in found:
            await _upsert(self.unresolved_coll, e["_id"], {"$set": validated_set(
                UnresolvedDoc, {"unit_id": e["unit_id"], "since": EPOCH}, e["_id"])})
        return len(found)

    async def claim_round(self, key: str, round_no: int, owner: str, when: datetime) -> bool:
        return await insert_new(self.rounds, validated(RoundClaimDoc, {
            "_id": f"{key}#r{round_no}", "owner": owner, "claimed_at": when}))

    async def round_claim(self, key: str, round_no: int) -> RoundClaim | None:
        """Who claimed retry round `round_no` of the reminder, and when."""
        doc = await self.rounds.find_one({"_id": f"{key}#r{round_no}"})
        return stored_as(RoundClaim, doc) if doc is not None else None

    # -- what waits --------------------------------------------------------------------
    async def defer(self, doc: Wait) -> bool:
        """Record a wait once; False if it was already recorded."""
        return await insert_new(self.deferrals, validated(DeferralDoc, bson(doc)))

    async def replace_deferral(self, doc: Wait) -> None:
        await self.deferrals.replace_one({"_id": doc["_id"]}, validated(
            DeferralDoc, bson(doc)), upsert=True)

    async def pending(self) -> list[Wait]:
        """Every wait (each pass reads them all). A whole-collection read, kept on
        purpose: the collection holds only live waits (every way a wait ends deletes it
        by `_id`), and the pass needs each of them, so this costs what the pass has to do
        anyway; reading the same documents one by one through an index document would
        cost a read by `_id` (~1 ms) each instead of ~50 us."""
        return [stored_as(Wait, d) for d in await self.deferrals.find({}).to_list(None)]

    async def waits(self, keys: list[str]) -> list[Wait]:
        """The waits among these keys, read by `_id` (a batch's records' keys together:
        one `$in` read)."""
        found = await asyncio.gather(*(self._deferral_reads.get(k) for k in keys))
        return [stored_as(Wait, w) for w in found if w is not None]

    async def drop_deferral(self, key: str) -> None:
        await self.deferrals.delete_one({"_id": key})

    # -- provider message ids and delivery receipts ----------------------------------------
    async def index_message(self, provider: str, message_id: str, key: str
                            ) -> ProviderMessage | None:
        """Remember which reminder a provider's message id belongs to; returns the
        document (with a receipt if one came first)."""
        _id = f"{provider}:{message_id}"
        await _upsert(self.messages, _id, {"$set": validated_set(ProviderMessageDoc,
                                                                 {"key": key})})
        return await self._message(_id)

    async def record_receipt(self, provider: str, message_id: str, stat: str,
                             when: datetime) -> ProviderMessage | None:
        _id = f"{provider}:{message_id}"
        await _upsert(self.messages, _id, {"$set": validated_set(
            ProviderMessageDoc, {"stat": stat, "receipt_at": when}, _id)})
        return await self._message(_id)

    async def receipts_of(self, provider: str, message_ids: list[str]
                          ) -> list[ProviderMessage]:
        found = []
        for mid in message_ids:
            doc = await self._message(f"{provider}:{mid}")
            if doc is not None:
                found.append(doc)
        return found

    async def _message(self, _id: str) -> ProviderMessage | None:
        doc = await self.messages.find_one({"_id": _id})
        return stored_as(ProviderMessage, doc) if doc is not None else None


class OutboxStore:
    def __init__(self, db: Database) -> None:
        self.coll = db["outbox"]

    async def add(self, doc: OutboxEntry) -> None:
        await insert_new(self.coll, validated(OutboxDoc, bson(doc)))

    async def remove(self, event_id: str) -> None:
        await self.coll.delete_one({"_id": event_id})

    async def older_than(self, when: datetime, limit: int = 200) -> list[OutboxEntry]:
        docs = await self.coll.find({"created_at": {"$lte": when}}).to_list(limit)
        return sorted((stored_as(OutboxEntry, d) for d in docs), key=lambda d: d["created_at"])


class MilestoneStore:
    """The synthesis milestones (milestone.py), `_id` = the period."""

    def __init__(self, db: Database) -> None:
        self.coll = db["milestones"]

    async def get(self, period: int) -> Milestone | None:
        doc = await self.coll.find_one({"_id": period})
        return stored_as(Milestone, doc) if doc else None

    async def all(self) -> list[Milestone]:
        return [stored_as(Milestone, d) for d in await self.coll.find({}).to_list(None)]

    async def put(self, period: int, doc: Milestone) -> None:
        await self.coll.replace_one({"_id": period}, validated(MilestoneDoc, bson(doc)),
                                    upsert=True)

    async def claim_reminder(self, period: int, stage: str, when: str) -> bool:
        """Record that the stage's reminder goes now; False if it was already claimed."""
        claimed = await self.coll.update_one(
            {"_id": period, f"reminders.{stage}": {"$exists": False}},
            {"$set": {f"reminders.{stage}": when}})
        return bool(claimed.modified_count)
