"""The submissions service's own documents as types: what its store keeps (one TypedDict
per collection of services/submissions/schema.py, `_id` included) and the change list of a
revision. The payloads it shares with other services (the request, the accepted event,
the conference and deadline records) are in services/common/contracts.py."""

from datetime import datetime
from typing import Any, NotRequired, TypedDict

from services.common.contracts import AcceptedReceipt, SubmissionRequest


class ReceiptFields(AcceptedReceipt):
    """A receipt as JSON (`Receipt.to_dict`): the first keys of the accepted event."""

    movement: str


class DeadlineInForce(TypedDict):
    """The deadline a movement's period is judged by, as the API shows it: an operator's
    (deadline-set.v1 and `source: operator`) or the platform's default (with its basis)."""

    movement: str
    period: int
    deadline: str
    source: str
    basis: NotRequired[str]
    set_by: str | None
    set_at: str | None
    reason: NotRequired[str | None]


class Change(TypedDict):
    """One path that changed since the previous revision, with both JSON values."""

    path: str
    op: str  # add, remove or replace
    before: NotRequired[object]
    after: NotRequired[object]


class Submission(TypedDict):
    """One revision of a unit's report (`submissions`, `_id` = period.unit.rN), its
    accepted event stored with it."""

    _id: str
    unit_id: str
    period: int
    revision: int
    idempotency_key: str
    content_hash: str
    received_at: datetime
    deadline: datetime
    on_time: bool
    supersedes: str | None
    # Absent on revisions stored before movements existed (read as the unit type's).
    movement: NotRequired[str | None]
    content: SubmissionRequest
    # The CloudEvent as stored (its JSON object), published as it is.
    event: dict[str, Any]
    published: bool
    published_at: datetime | None
    stored_at: datetime
    changes: list[Change]


class KeyPointer(TypedDict):
    """Which submission an Idempotency-Key produced (`submission_keys`, `_id` = unit|key)."""

    _id: str
    unit_id: str
    submission_id: str
    content_hash: str


class Head(TypedDict):
    """The latest revision of a unit's period (`submission_heads`, `_id` = unit|period)."""

    _id: str
    unit_id: str
    period: int
    revision: int
    on_time: bool


class OutboxEntry(TypedDict):
    """A submission that may not be on Kafka yet (`outbox`, `_id` = its id)."""

    _id: str
    unit_id: str
    stored_at: datetime


class Marker(TypedDict):
    """A one-time data change already done (`submission_markers`, `_id` = its name)."""

    _id: str
    done_at: datetime
    submissions: int


class Unlock(TypedDict):
    """An operator's decision on amending a unit's period: an unlock until `expires_at`,
    or a lock (`locked_reason`). Stored in `unlocks` with `_id` = unit|period."""

    unit_id: str
    period: int
    reason: str
    granted_at: datetime
    expires_at: datetime | None
    locked_reason: str | None


class StoredUnlock(Unlock):
    _id: str
