"""The audit trail: every operator action (every non-GET route an account may call)
appended to the `audit` collection of the service's own database, and read back by
admins at `GET /v1/audit`, newest first, a page at a time.

Append-only: this module inserts and reads, nothing else (no update, no delete); in
production the services' database user may be given only `insert` and `find` on it.
`_id` is the UTC time of the record and a random suffix, so its order is the order of
the actions and a page's last `_id` is the next page's cursor.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypedDict

import mongoengine as me

from services.common.auth import Principal, PrincipalInfo
from services.common.mongo import all_stored_as
from services.common.schema import DateTimeField, IntField, validated

log = logging.getLogger(__name__)
COLLECTION = "audit"
CURSOR = re.compile(r"^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9a-f]{12}$")
REASON_HEADER = "Audit-Reason"
MAX_STATE_CHARS = 20_000


# A value of an action's target: text, or a value of the request's JSON body.
TargetValue = str | int | float | bool | None | list["TargetValue"] | dict[str, "TargetValue"]


class AuditRecord(TypedDict):
    """One operator action as the audit collection keeps it (AuditDoc below); `target`,
    `before` and `after` are JSON-safe summaries (`bounded`)."""

    _id: str
    at: datetime
    service: str
    actor: PrincipalInfo
    action: str
    method: str
    route: str
    path: str
    target: object
    reason: str
    status: int
    outcome: str
    before: object
    after: object
    trace_id: str | None


@dataclass
class Action:
    """One operator action in progress: the handler may add the target and the state
    before and after it; the HTTP shell writes the record with the outcome."""

    principal: Principal
    reason: str
    action: str
    route: str
    method: str
    path: str
    # What the action is done to, by name: its route's path parameters (text), the period
    # (the query's text, or the body's value as sent) and what the handler adds (a unit,
    # a rubric version).
    target: dict[str, TargetValue] = field(default_factory=dict)
    before: object = None
    after: object = None

    def record(self, service: str, status: int, at: datetime | None = None,
               trace_id: str | None = None) -> AuditRecord:
        at = at or datetime.now(UTC)
        return {
            "_id": at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ") + "-"
            + secrets.token_hex(6),
            "at": at, "service": service, "actor": self.principal.describe(),
            "action": self.action, "method": self.method, "route": self.route,
            "path": self.path, "target": bounded(self.target), "reason": self.reason,
            "status": status, "outcome": "done" if status < 400 else "refused",
            "before": bounded(self.before), "after": bounded(self.after),
            "trace_id": trace_id,
        }


def bounded(value: Any) -> Any:
    """JSON-safe (dates as ISO text), and a large state summarised, not stored whole."""
    safe = _plain(value)
    if len(repr(safe)) > MAX_STATE_CHARS:
        return {"truncated": True, "repr": repr(safe)[:MAX_STATE_CHARS]}
    return safe


def _key(key: Any) -> str:
    """A field name the database takes: no dots, no leading `$` (topic names have dots)."""
    text = str(key).replace(".", "\u2024")
    return "\uff04" + text[1:] if text.startswith("$") else text


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items() if k != "_id"}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class AuditDoc(me.Document):
    """One operator action (`_id` = UTC time and a random suffix: the cursor's order),
    in every service's database. Its states are JSON-safe summaries (`bounded`)."""

    meta = {"collection": COLLECTION, "strict": False}
    id = me.StringField(primary_key=True, regex=CURSOR.pattern)
    at = DateTimeField(required=True)
    service = me.StringField(required=True)
    actor = me.DictField(required=True)
    action = me.StringField(required=True)
    method = me.StringField(required=True)
    route = me.StringField(required=True)
    path = me.StringField(required=True)
    target = me.DynamicField()
    reason = me.StringField(required=True)
    status = IntField(required=True, min_value=100, max_value=599)
    outcome = me.StringField(required=True, choices=("done", "refused"))
    before = me.DynamicField()
    after = me.DynamicField()
    trace_id = me.StringField(null=True)


class AuditLog:
    """The service's audit collection (pymongo async)."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    async def append(self, record: AuditRecord) -> None:
        await self.collection.insert_one(validated(AuditDoc, record))

    async def page(self, limit: int, cursor: str | None = None
                   ) -> tuple[list[AuditRecord], str | None]:
        query = {"_id": {"$lt": cursor}} if cursor else {}
        docs = all_stored_as(AuditRecord, await self.collection.find(query).sort(
            "_id", -1).limit(limit + 1).to_list())
        more = len(docs) > limit
        docs = docs[:limit]
        return docs, (docs[-1]["_id"] if more and docs else None)

    async def count(self) -> int:
        return int(await self.collection.count_documents({}))


class MemoryAuditLog:
    """The same, in memory: for unit tests of the HTTP shell."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def append(self, record: AuditRecord) -> None:
        self.records.append(record)

    async def page(self, limit: int, cursor: str | None = None
                   ) -> tuple[list[AuditRecord], str | None]:
        docs = sorted((r for r in self.records if cursor is None or r["_id"] < cursor),
                      key=lambda r: r["_id"], reverse=True)
        more = len(docs) > limit
        docs = docs[:limit]
        return docs, (docs[-1]["_id"] if more and docs else None)

    async def count(self) -> int:
        return len(self.records)
