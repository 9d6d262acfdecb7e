"""Submission rules as plain functions: deadlines, revisions, idempotency, receipts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.common import individuals, movements
from services.common.contracts import SubmissionRequest
from services.common.errors import Refusal, Refused
from services.submissions.models import Change, ReceiptFields, Unlock
from services.submissions.registry import Registry

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def deadline_for(period: int, override: datetime | None = None,
                 movement: str = movements.DEFAULT) -> datetime:
    """The units' deadline of the movement's period, 23:59:59 in Hanoi: 30 November for
    `toan-dan`, 26 November for `vi-an-ninh` (the day before the cluster conferences);
    labelled platform defaults (`movements.MOVEMENTS`)."""
    return override if override is not None else movements.default_deadline(period, movement)


def to_millis(when: datetime) -> datetime:
    """Times as the database stores them (milliseconds, UTC), so receipts replay exactly."""
    return when.astimezone(UTC).replace(microsecond=when.microsecond // 1000 * 1000)


def is_on_time(received_at: datetime, deadline: datetime) -> bool:
    return received_at <= deadline


def content_hash(body: SubmissionRequest) -> str:
    """Hash of the canonical JSON of a request: equal bodies, equal hashes."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def submission_id(unit_id: str, period: int, revision: int) -> str:
    """Deterministic, so claiming a revision is one insert of one document."""
    return f"{period}.{unit_id.replace(':', '.')}.r{revision}"


def default_idempotency_key(body_hash: str, amends: int) -> str:
    """The key of a request sent without one: the body and the revision it amends (0
    for a first report). A retry while that revision is still the latest finds the same
    key; the same body sent again over a later revision (A, B, then A) is a new one.
    (A body equal to the revision in force is that revision: `Intake` answers it.)"""
    return f"content:{body_hash}@r{amends}"


@dataclass(frozen=True)
class Receipt:
    submission_id: str
    unit_id: str
    period: int
    revision: int
    on_time: bool
    received_at: datetime
    deadline: datetime
    supersedes: str | None = None
    movement: str = "toan-dan"  # services.common.movements: the unit type's movement

    def to_dict(self) -> ReceiptFields:
        return {"submission_id": self.submission_id, "unit_id": self.unit_id,
                "period": self.period, "revision": self.revision, "on_time": self.on_time,
                "received_at": self.received_at.isoformat(),
                "deadline": self.deadline.isoformat(), "supersedes": self.supersedes,
                "movement": self.movement}


class SubmissionRefused(Refused):
    """A submission the rules refuse; `code` names the rule for the problem body."""


def check_amendment(*, now: datetime, deadline: datetime, unlock_until: datetime | None,
                    locked: str | None = None) -> None:
    """An amendment after the deadline needs an operator's unlock that has not expired;
    an operator's lock (`locked` = its reason) refuses amendments at any time."""
    if locked is not None:
        raise SubmissionRefused(
            Refusal.CONFLICT, "locked", f"an operator locked this unit and period: {locked}")
    if now <= deadline:
        return
    if unlock_until is None:
        raise SubmissionRefused(
            Refusal.CONFLICT, "deadline-passed",
            f"the deadline {deadline.isoformat()} has passed; an amendment needs an unlock "
            "granted by an operator")
    if now > unlock_until:
        raise SubmissionRefused(
            Refusal.CONFLICT, "unlock-expired",
            f"the unlock for this unit and period expired at {unlock_until.isoformat()}")


def unlock_expiry(now: datetime, hours: float) -> datetime:
    return now + timedelta(hours=hours)


def unlock(unit_id: str, period: int, *, reason: str, now: datetime, hours: float) -> Unlock:
    """An operator's unlock: the unit may amend its period for `hours` from `now`."""
    return {"unit_id": unit_id, "period": period, "reason": reason, "granted_at": now,
            "expires_at": unlock_expiry(now, hours), "locked_reason": None}


def lock(unit_id: str, period: int, *, reason: str, now: datetime) -> Unlock:
    """An operator's lock: no further amendment of the unit's period, until an unlock."""
    return {"unit_id": unit_id, "period": period, "reason": reason, "granted_at": now,
            "expires_at": None, "locked_reason": reason}


def diff(before: object, after: object, path: str = "") -> list[Change]:
    """What changed between two revisions, as JSON-pointer-like paths with both values
    (nothing is overwritten: each revision keeps its content and this list)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[Change] = []
        for key in sorted(before.keys() | after.keys()):
            sub_path = f"{path}/{key}"
            if key not in after:
                changes.append({"path": sub_path, "op": "remove", "before": before[key]})
            elif key not in before:
                changes.append({"path": sub_path, "op": "add", "after": after[key]})
            else:
                changes += diff(before[key], after[key], sub_path)
        return changes
    if before != after:
        return [{"path": path or "/", "op": "replace", "before": before, "after": after}]
    return []


def check_reporter(registry: Registry, request: SubmissionRequest, now: datetime) -> None:
    """The registry's rules for a schema-valid request (SubmissionRefused naming the
    field): a unit it knows (for a person's record, the unit that reports it, after the
    rules of criterion group 5), of the movement asked for, existing in the period, and
    a period that has started by `now`."""
    unit_id, period = request["unit_id"], request["period"]
    unit = registry.unit(answering_unit(unit_id, request["self_assessment"]))
    if unit is None:
        raise SubmissionRefused(
            Refusal.INVALID, "unknown-unit",
            f"unit {answering_unit(unit_id, request['self_assessment'])} is not in the "
            "registry", errors=[{"field": "unit_id", "message": "unknown unit"}])
    wrong = movements.mismatch(unit.unit_id, request.get("movement"))
    if wrong:
        raise SubmissionRefused(Refusal.INVALID, "wrong-movement", wrong,
                                errors=[{"field": "movement", "message": wrong}])
    if not unit.active_in(period):
        successor = registry.successor_in(unit.unit_id, period)
        hint = f"; it reports as {successor}" if successor else ""
        raise SubmissionRefused(
            Refusal.INVALID, "unit-not-active",
            f"unit {unit.unit_id} does not exist in period {period}{hint}",
            errors=[{"field": "period", "message": "unit not active in this period"}])
    if period > now.year:
        raise SubmissionRefused(
            Refusal.INVALID, "period-not-open", f"period {period} has not started",
            errors=[{"field": "period", "message": "a future period"}])


def answering_unit(unit_id: str, self_assessment: object) -> str:
    """The registry unit that answers for a report: the unit itself, or for a person's
    record (services.common.individuals) the unit that reports it, after the rules of
    criterion group 5 (exactly one person group)."""
    if not individuals.is_individual(unit_id):
        return unit_id
    try:
        sponsor = individuals.sponsor_of(unit_id)
        individuals.person_group(self_assessment)
    except individuals.PersonRecordError as e:
        raise SubmissionRefused(Refusal.INVALID, "invalid-person-record", str(e),
                                errors=[{"field": e.field, "message": str(e)}]) from None
    return sponsor
