"""The notifications database: who reported, the campaigns, the reminder ledger and
what is pending, and an outbox of events. Documents (mongoengine) name collections and
indexes; the repositories use the async pymongo database.

Every exclusive step is an insert with a deterministic `_id` (duplicate key = someone
else has it), because FerretDB has no transactions and no atomic findAndModify."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import mongoengine as me
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.mongo import insert_new


class UnitStatusDoc(me.Document):
    """`_id` = unit|period; the first report decides timeliness."""

    meta = {"collection": "unit_status", "strict": False,
            "indexes": [{"fields": ["period"]}]}
    id = me.StringField(primary_key=True)
    period = me.IntField(required=True)


class CampaignDoc(me.Document):
    """`_id` = the period; the campaign's spec (see campaigns.campaign_spec)."""

    meta = {"collection": "campaigns", "strict": False}
    id = me.StringField(primary_key=True)


class LedgerDoc(me.Document):
    """`_id` = period|unit|stage|channel|recipient. Inserting it claims the reminder;
    it then records the outcome (sent, delivered, failed, unknown, cancelled, skipped)."""

    meta = {"collection": "ledger", "strict": False,
            "indexes": [{"fields": ["unit_id", "period"]}, {"fields": ["period", "stage"]}]}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    period = me.IntField(required=True)
    stage = me.StringField(required=True)


class DeferralDoc(me.Document):
    """`_id` = a ledger key that waits: for the SMS window (quiet hours) or for a retry."""

    meta = {"collection": "deferrals", "strict": False}
    id = me.StringField(primary_key=True)


class RoundClaimDoc(me.Document):
    """`_id` = key#r<n>: the right to make retry round n of a reminder."""

    meta = {"collection": "round_claims", "strict": False}
    id = me.StringField(primary_key=True)


class ProviderMessageDoc(me.Document):
    """`_id` = provider:message id -> the ledger key, and the delivery receipt."""

    meta = {"collection": "provider_messages", "strict": False}
    id = me.StringField(primary_key=True)


class OutboxDoc(me.Document):
    """An event not yet acknowledged by Kafka (deleted once it is)."""

    meta = {"collection": "outbox", "strict": False}
    id = me.StringField(primary_key=True)


DOCUMENTS = [UnitStatusDoc, CampaignDoc, LedgerDoc, DeferralDoc, RoundClaimDoc,
             ProviderMessageDoc, OutboxDoc]


async def _upsert_set(coll: Any, _id: str, fields: dict[str, Any]) -> None:
    """$set with upsert; two concurrent upserts of a new `_id` may both try to insert on
    FerretDB, and the loser gets a duplicate key: the document exists then, update it."""
    try:
        await coll.update_one({"_id": _id}, {"$set": fields}, upsert=True)
    except DuplicateKeyError:
        await coll.update_one({"_id": _id}, {"$set": fields})


class StatusStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.status = db["unit_status"]

    async def record_submission(self, data: dict[str, Any]) -> None:
        """Idempotent; an amendment updates the latest revision, not the first report."""
        key = f"{data['unit_id']}|{data['period']}"
        await self.status.update_one(
            {"_id": key},
            {"$setOnInsert": {"unit_id": data["unit_id"], "period": data["period"],
                              "first_submission_id": data["submission_id"],
                              "first_received_at": data["received_at"],
                              "on_time": data["on_time"]},
             "$max": {"latest_revision": data["revision"]}},
            upsert=True)

    async def submitted(self, period: int) -> dict[str, bool]:
        docs = await self.status.find({"period": period}).to_list(None)
        return {d["unit_id"]: bool(d["on_time"]) for d in docs}

    async def of_unit(self, unit_id: str, period: int) -> dict[str, Any] | None:
        return await self.status.find_one({"_id": f"{unit_id}|{period}"})


class CampaignStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.coll = db["campaigns"]

    async def get(self, period: int) -> dict[str, Any] | None:
        return await self.coll.find_one({"_id": str(period)})

    async def all(self) -> list[dict[str, Any]]:
        return sorted(await self.coll.find({}).to_list(None), key=lambda d: d["period"])

    async def create(self, spec: dict[str, Any]) -> bool:
        """Only if the period has none yet (an operator's campaign is never replaced)."""
        return await insert_new(self.coll, {"_id": str(spec["period"]), **spec})

    async def put(self, spec: dict[str, Any]) -> None:
        await self.coll.replace_one({"_id": str(spec["period"])},
                                    {"_id": str(spec["period"]), **spec}, upsert=True)

    async def set_paused(self, period: int, paused: bool, when: datetime) -> bool:
        result = await self.coll.update_one(
            {"_id": str(period)}, {"$set": {"paused": paused, "paused_changed_at": when}})
        return bool(result.matched_count)


class LedgerStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.ledger = db["ledger"]
        self.deferrals = db["deferrals"]
        self.rounds = db["round_claims"]
        self.messages = db["provider_messages"]

    # -- the ledger --------------------------------------------------------------------
    async def claim(self, doc: dict[str, Any]) -> bool:
        """Insert the reminder's entry; False if someone else has it."""
        return await insert_new(self.ledger, doc)

    async def get(self, key: str) -> dict[str, Any] | None:
        return await self.ledger.find_one({"_id": key})

    async def update(self, key: str, fields: dict[str, Any], *, owner: str | None = None,
                     where: dict[str, Any] | None = None) -> bool:
        query: dict[str, Any] = {"_id": key, **(where or {})}
        if owner is not None:
            query["owner"] = owner
        result = await self.ledger.update_one(query, {"$set": fields})
        return bool(result.matched_count)

    async def release(self, key: str, owner: str) -> None:
        """Give a claim back before anything was sent (the campaign was paused)."""
        await self.ledger.delete_one({"_id": key, "owner": owner, "status": "sending"})

    async def of_period(self, period: int) -> list[dict[str, Any]]:
        return await self.ledger.find({"period": period}).to_list(None)

    async def with_status(self, status: str) -> list[dict[str, Any]]:
        return await self.ledger.find({"status": status}).to_list(None)

    async def claim_round(self, key: str, round_no: int, owner: str, when: datetime) -> bool:
        return await insert_new(self.rounds, {"_id": f"{key}#r{round_no}", "owner": owner,
                                           "claimed_at": when})

    # -- what waits --------------------------------------------------------------------
    async def defer(self, doc: dict[str, Any]) -> bool:
        """Record a wait once; False if it was already recorded."""
        return await insert_new(self.deferrals, doc)

    async def replace_deferral(self, doc: dict[str, Any]) -> None:
        await self.deferrals.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def pending(self) -> list[dict[str, Any]]:
        """Every wait (each pass reads them all). A whole-collection read, kept on
        purpose: the collection holds only live waits (every way a wait ends deletes it
        by `_id`), and the pass needs each of them, so this costs what the pass has to do
        anyway; reading the same documents one by one through an index document would
        cost a read by `_id` (~1 ms) each instead of ~50 us."""
        return await self.deferrals.find({}).to_list(None)

    async def pending_of(self, unit_id: str, period: int) -> list[dict[str, Any]]:
        return await self.deferrals.find({"unit_id": unit_id, "period": period}
                                         ).to_list(None)

    async def drop_deferral(self, key: str) -> None:
        await self.deferrals.delete_one({"_id": key})

    # -- provider message ids and delivery receipts ----------------------------------------
    async def index_message(self, provider: str, message_id: str, key: str
                            ) -> dict[str, Any] | None:
        """Remember which reminder a provider's message id belongs to; returns the
        document (with a receipt if one came first)."""
        _id = f"{provider}:{message_id}"
        await _upsert_set(self.messages, _id, {"key": key})
        return await self.messages.find_one({"_id": _id})

    async def record_receipt(self, provider: str, message_id: str, stat: str,
                             when: datetime) -> dict[str, Any] | None:
        _id = f"{provider}:{message_id}"
        await _upsert_set(self.messages, _id, {"stat": stat, "receipt_at": when})
        return await self.messages.find_one({"_id": _id})

    async def receipts_of(self, provider: str, message_ids: list[str]
                          ) -> list[dict[str, Any]]:
        found = []
        for mid in message_ids:
            doc = await self.messages.find_one({"_id": f"{provider}:{mid}"})
            if doc is not None:
                found.append(doc)
        return found


class OutboxStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.coll = db["outbox"]

    async def add(self, doc: dict[str, Any]) -> None:
        await insert_new(self.coll, doc)

    async def remove(self, event_id: str) -> None:
        await self.coll.delete_one({"_id": event_id})

    async def older_than(self, when: datetime, limit: int = 200) -> list[dict[str, Any]]:
        docs = await self.coll.find({"created_at": {"$lte": when}}).to_list(limit)
        return sorted(docs, key=lambda d: d["created_at"])
