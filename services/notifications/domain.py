"""Campaign rules as plain functions over plain data: the deadline, who is missing,
which reminder stage is due, quiet hours, the ledger key and the unit's partition."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.common import movements
from services.notifications.models import LedgerKeyParts

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
EMAIL, SMS = "email", "sms"
CHANNELS = (EMAIL, SMS)
REMINDER, DEADLINE, OVERDUE = "reminder", "deadline", "overdue"
DIGEST_SUFFIX = "-digest"
# A digest of another movement than `toan-dan` names it after this mark.
MOVEMENT_MARK = "@"


def campaign_deadline(period: int, override: datetime | None = None,
                      movement: str = movements.DEFAULT) -> datetime:
    """The movement's units' cutoff, 23:59:59 Hanoi time (30 November for `toan-dan`, 26
    November for `vi-an-ninh`: `movements.MOVEMENTS`), unless the campaign sets one."""
    return override or movements.default_deadline(period, movement)


@dataclass(frozen=True)
class DeadlineStatus:
    period: int
    deadline: datetime
    expected: int
    submitted: int
    on_time: int
    late: int
    missing: list[str]


def deadline_status(period: int, deadline: datetime, expected: list[str],
                    submitted_on_time: dict[str, bool]) -> DeadlineStatus:
    """`submitted_on_time` maps each unit that reported to whether its first report was
    on time; units outside `expected` (not in that year's registry) are not counted."""
    expected_set = set(expected)
    reported = {u: ok for u, ok in submitted_on_time.items() if u in expected_set}
    on_time = sum(1 for ok in reported.values() if ok)
    return DeadlineStatus(
        period=period, deadline=deadline, expected=len(expected_set), submitted=len(reported),
        on_time=on_time, late=len(reported) - on_time,
        missing=sorted(expected_set - reported.keys()),
    )


# -- the campaign ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Stage:
    """A reminder sent `days` days after the deadline's local date (negative: before),
    at `hour`:`minute` in the campaign's time zone."""

    name: str
    days: int
    hour: int
    minute: int = 0
    escalate: bool = False

    @property
    def kind(self) -> str:
        return REMINDER if self.days < 0 else DEADLINE if self.days == 0 else OVERDUE


@dataclass(frozen=True)
class QuietHours:
    """SMS are not sent from `start` to `end` (local time of the recipient)."""

    start: time
    end: time

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # spans midnight


@dataclass(frozen=True)
class Audience:
    """Which units of the period's registry a campaign reaches (empty: all of them)."""

    unit_ids: tuple[str, ...] = ()
    unit_types: tuple[str, ...] = ()

    def includes(self, unit_id: str, unit_type: str) -> bool:
        if self.unit_ids and unit_id not in self.unit_ids:
            return False
        return not self.unit_types or unit_type in self.unit_types


@dataclass(frozen=True)
class Escalation:
    """Who hears about overdue units: the national recipients get every overdue unit;
    cluster heads get their cluster's police units; supervisors their units."""

    national: tuple[str, ...] = ("ministry:public-security", "ministry:home-affairs")
    cluster_heads: bool = True
    supervisors: bool = True


@dataclass(frozen=True)
class Campaign:
    period: int
    deadline: datetime
    timezone: str
    stages: tuple[Stage, ...]
    channels: tuple[str, ...] = CHANNELS
    quiet_hours: QuietHours | None = None
    audience: Audience = field(default_factory=Audience)
    escalation: Escalation = field(default_factory=Escalation)
    # A stage older than this is stale: its reminder would be out of date.
    catch_up_hours: float = 72.0
    paused: bool = False
    # The movement whose units' deadline this is: a stored campaign is `toan-dan`'s and
    # runs for `vi-an-ninh` counted from that movement's deadline (`for_movement`).
    movement: str = movements.DEFAULT

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)


@dataclass(frozen=True)
class DueStage:
    stage: Stage
    due_at: datetime
    # When the stage stops being current (the next stage is due, or it is too old).
    expires_at: datetime


def stage_time(campaign: Campaign, stage: Stage) -> datetime:
    local_day = campaign.deadline.astimezone(campaign.tz).date() + timedelta(days=stage.days)
    return datetime.combine(local_day, time(stage.hour, stage.minute), tzinfo=campaign.tz)


def schedule(campaign: Campaign) -> list[tuple[Stage, datetime]]:
    return sorted(((s, stage_time(campaign, s)) for s in campaign.stages), key=lambda x: x[1])


def current_stage(campaign: Campaign, now: datetime) -> DueStage | None:
    """The one stage to act on at `now`: the latest that is due, unless it is stale.
    Earlier stages are superseded, so a service back from downtime sends one
    up-to-date reminder, never a burst of old ones."""
    plan = schedule(campaign)
    due = [i for i, (_, at) in enumerate(plan) if at <= now]
    if not due:
        return None
    i = due[-1]
    stage, at = plan[i]
    expires = at + timedelta(hours=campaign.catch_up_hours)
    if i + 1 < len(plan):
        expires = min(expires, plan[i + 1][1])
    if now >= expires:
        return None
    return DueStage(stage=stage, due_at=at, expires_at=expires)


def days_left(deadline: datetime, now: datetime, tz: ZoneInfo) -> int:
    """Calendar days from today to the deadline's day, both local (negative: overdue)."""
    return (deadline.astimezone(tz).date() - now.astimezone(tz).date()).days


def quiet_until(now: datetime, quiet: QuietHours | None, tz: ZoneInfo) -> datetime | None:
    """When the SMS window opens again, if `now` is inside the quiet hours."""
    if quiet is None:
        return None
    local = now.astimezone(tz)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return None
    opens = datetime.combine(local.date(), quiet.end, tzinfo=tz)
    if opens <= local:
        opens += timedelta(days=1)
    return opens


# -- units, recipients, keys ----------------------------------------------------------------

def recipients(unit: Mapping[str, Any], channels: Iterable[str]) -> list[tuple[str, str]]:
    """(channel, address) pairs of a unit over the campaign's channels."""
    contacts = unit.get("contacts") or {}
    out: list[tuple[str, str]] = []
    wanted = set(channels)
    if EMAIL in wanted:
        out += [(EMAIL, a) for a in contacts.get("emails") or ()]
    if SMS in wanted:
        out += [(SMS, p) for p in contacts.get("phones") or ()]
    return out


def unit_timezone(unit: Mapping[str, Any], default: ZoneInfo) -> ZoneInfo:
    name = (unit.get("contacts") or {}).get("timezone")
    return ZoneInfo(name) if name else default


def ledger_key(unit_id: str, period: int, stage: str, channel: str, recipient: str) -> str:
    """The ledger's unique key: one reminder per unit, period, stage, channel, recipient."""
    return f"{period}|{unit_id}|{stage}|{channel}|{recipient}"


def parse_key(key: str) -> LedgerKeyParts:
    period, unit_id, stage, channel, recipient = key.split("|", 4)
    return {"period": int(period), "unit_id": unit_id, "stage": stage, "channel": channel,
            "recipient": recipient}


def key_digest(key: str, length: int = 24) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:length]


def message_id(key: str, domain: str) -> str:
    """The e-mail's Message-ID: the same for the same reminder, whoever sends it."""
    parts = parse_key(key)
    stage = parts["stage"].replace(MOVEMENT_MARK, ".")  # one `@` in a Message-ID
    return f"<{parts['period']}.{stage}.{key_digest(key)}@{domain}>"


def concat_reference(key: str) -> int:
    """The 8-bit reference of a multi-part SMS (the same on every try of one reminder)."""
    return int(key_digest(key, 2), 16)


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's, which aiokafka and kafka-python copy)."""
    seed, m, r = 0x9747B28C, 0x5BD1E995, 24
    length = len(data)
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record keyed `key`."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


# -- escalation -------------------------------------------------------------------------------

def digest_stage(stage: str, movement: str = movements.DEFAULT) -> str:
    """The ledger's stage of an escalation digest: `<stage>-digest` for `toan-dan` (as
    before movements), `<stage>-digest@<movement>` for another, so that a body hearing
    about both movements gets one digest of each."""
    name = stage + DIGEST_SUFFIX
    return name if movement == movements.DEFAULT else f"{name}{MOVEMENT_MARK}{movement}"


def stage_parts(name: str) -> tuple[str, str | None]:
    """A ledger stage's campaign stage, and its digest's movement (None: a reminder)."""
    base, _, movement = name.partition(MOVEMENT_MARK)
    if base.endswith(DIGEST_SUFFIX):
        return base.removesuffix(DIGEST_SUFFIX), movement or movements.DEFAULT
    return base, None


def unit_movement(unit_id: str) -> str:
    """The movement a unit is reminded under (an address that is no unit: the default)."""
    return movements.of_event({}, unit_id)


def entry_movement(unit_id: str, stage: str) -> str:
    """The movement of a ledger entry or wait: a digest's own, else its unit's."""
    return stage_parts(stage)[1] or unit_movement(unit_id)


def movement_deadline(period: int, movement: str, campaign: Campaign | None,
                      setting: Mapping[str, Any] | None) -> datetime:
    """A movement's units' deadline: an operator's setting (submissions' `PUT
    /v1/movements/{movement}/deadlines/{period}`, replicated), else the campaign's for
    `toan-dan`, else the movement's labelled default (`movements.MOVEMENTS`)."""
    if setting is not None:
        return datetime.fromisoformat(str(setting["deadline"]))
    if campaign is not None and movement == movements.DEFAULT:
        return campaign.deadline
    return campaign_deadline(period, movement=movement)


def for_movement(campaign: Campaign, movement: str, setting: Mapping[str, Any] | None
                 ) -> Campaign:
    """The period's campaign as it runs for one movement's units: the same stages,
    channels, quiet hours and audience, counted from that movement's deadline."""
    return replace(campaign, movement=movement, deadline=movement_deadline(
        campaign.period, movement, campaign, setting))


def escalation_targets(
    overdue: Iterable[Mapping[str, Any]], clusters: Mapping[str, Mapping[str, Any]],
    escalation: Escalation,
) -> dict[str, list[str]]:
    """recipient unit id -> the overdue unit ids it hears about, one digest each.
    `overdue` are unit documents (with `_id`, `type`, `supervisor`); `clusters` the
    period's clusters (`members`, `head`, inherited from earlier years)."""
    head_of: dict[str, str] = {}
    for c in clusters.values():
        if c.get("head"):
            for member in c.get("members") or ():
                head_of[member] = c["head"]
    out: dict[str, set[str]] = {}
    for unit in overdue:
        uid = unit["_id"]
        targets = set(escalation.national)
        if escalation.cluster_heads and unit.get("type") == "police" and uid in head_of:
            targets.add(head_of[uid])
        if escalation.supervisors and unit.get("supervisor"):
            targets.add(unit["supervisor"])
        for target in targets - {uid}:
            out.setdefault(target, set()).add(uid)
    return {t: sorted(units) for t, units in sorted(out.items())}
