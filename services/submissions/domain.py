"""Submission rules as plain functions: deadlines, revisions, idempotency, receipts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.common import movements
from services.common.errors import Refusal, Refused

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


def content_hash(body: dict[str, Any]) -> str:
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

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["received_at"] = self.received_at.isoformat()
        doc["deadline"] = self.deadline.isoformat()
        return doc


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


def diff(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """What changed between two revisions, as JSON-pointer-like paths with both values
    (nothing is overwritten: each revision keeps its content and this list)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[dict[str, Any]] = []
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
