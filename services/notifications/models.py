"""Typed forms of the notifications service's own documents and rows: what store.py reads
and writes (checked against schema.py's classes when written), and the rows the service
hands the API. Types only, no behaviour: the campaign with its rules is domain.py's
`Campaign`. Keys a document may lack (written by an older version, or only in some
states) are optional (`total=False` / `NotRequired`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict

# -- who reported -----------------------------------------------------------------------------


class UnitStatus(TypedDict, total=False):
    """`unit_status`: `_id` = unit|period; the first report decides timeliness."""

    _id: str
    unit_id: str
    period: int
    first_submission_id: str
    first_received_at: str | None  # the event's ISO text, as it came
    on_time: bool
    latest_revision: int


# -- campaigns --------------------------------------------------------------------------------


class StageSpec(TypedDict):
    name: str
    days: int
    hour: int
    minute: int
    escalate: bool


class QuietHoursSpec(TypedDict):
    start: str  # HH:MM
    end: str


class AudienceSpec(TypedDict):
    unit_ids: list[str]
    unit_types: list[str]


class EscalationSpec(TypedDict):
    national: list[str]
    cluster_heads: bool
    supervisors: bool


class CampaignSpec(TypedDict):
    """A campaign's stored (and API) form: `campaigns.campaign_spec` writes it,
    `campaigns.build_campaign` reads it back."""

    period: int
    deadline: str  # ISO text with the campaign's offset
    timezone: str
    stages: list[StageSpec]
    channels: list[str]
    quiet_hours: QuietHoursSpec | None
    audience: AudienceSpec
    escalation: EscalationSpec
    catch_up_hours: float
    paused: bool


class StoredCampaign(CampaignSpec):
    """`campaigns`: `_id` = the period; the spec and who set it."""

    _id: NotRequired[str]
    source: NotRequired[str]  # defaults, operator
    created_at: NotRequired[datetime | None]  # from the defaults
    updated_at: NotRequired[datetime | None]  # by an operator
    paused_changed_at: NotRequired[datetime | None]


# -- the reminder ledger ----------------------------------------------------------------------


class AttemptRecord(TypedDict):
    """One provider try of a send, as the ledger entry keeps it."""

    provider: str
    outcome: str  # sent, failed, unknown, skipped
    detail: str
    round: int


class LedgerEntry(TypedDict, total=False):
    """`ledger`: `_id` = period|unit|stage|channel|recipient. Inserting it claims the
    reminder (or digest); it then records the outcome. Also the fields of an update, and
    the open claims (`_id`, `unit_id`, `touched_at`) the abandoned-claims check reads."""

    _id: str
    unit_id: str
    period: int
    stage: str
    channel: str
    recipient: str
    kind: str  # reminder, digest (absent: a reminder, before digests existed)
    status: str
    owner: str | None
    round: int
    claimed_at: datetime
    touched_at: datetime
    at: datetime  # the campaign's clock when claimed
    sent_at: datetime | None
    delivered_at: datetime | None
    provider: str | None
    provider_ids: list[str]
    attempts: list[AttemptRecord]
    detail: str
    units: list[str]  # a digest's overdue units
    claim_token: str | None
    message_id: str | None
    fallback_of: str | None
    note: str | None
    fallback: str | None
    fallback_key: str | None
    not_before: datetime | None
    unknown_reason: str | None
    resolution: str | None
    resolved_at: datetime | None
    marked_at: datetime
    receipts: dict[str, str | None] | None  # message id -> delivery receipt stat


class Wait(TypedDict, total=False):
    """`deferrals`: `_id` = a ledger key that waits, for the SMS window (quiet hours) or
    for a retry round."""

    _id: str
    reason: str  # quiet-hours, retry
    not_before: datetime
    unit_id: str
    period: int
    stage: str
    channel: str
    recipient: str
    kind: str
    round: int  # a retry's next round
    units: list[str]
    deferred_at: datetime | None


class DeferredRow(Wait, total=False):
    """A quiet-hours wait as the reminders listing shows it (`status`: deferred)."""

    status: str


# One row of `GET /v1/notifications`: a ledger entry, or a wait not yet in the ledger.
NotificationRow = LedgerEntry | DeferredRow


class Unresolved(TypedDict):
    """`unresolved`: `_id` = a ledger key whose outcome is unknown and not yet resolved."""

    _id: str
    unit_id: str
    since: datetime


class RoundClaim(TypedDict):
    """`round_claims`: `_id` = key#r<n>, the right to make retry round n."""

    _id: str
    owner: str
    claimed_at: datetime


class ProviderMessage(TypedDict, total=False):
    """`provider_messages`: `_id` = provider:message id -> the ledger key and the
    delivery receipt (either may come first)."""

    _id: str
    key: str
    stat: str
    receipt_at: datetime


class LedgerKeyParts(TypedDict):
    """A ledger key's parts (`domain.parse_key`)."""

    period: int
    unit_id: str
    stage: str
    channel: str
    recipient: str


# -- the outbox -------------------------------------------------------------------------------


class OutboxEntry(TypedDict):
    """`outbox`: an event Kafka has not acknowledged yet (deleted once it has)."""

    _id: str  # the event id
    key: str  # the record key (the unit)
    event: dict[str, Any]  # the CloudEvent as JSON, as it is published
    created_at: datetime


# -- the synthesis milestone ------------------------------------------------------------------


class MilestoneStep(TypedDict):
    state: str  # drafted, sent
    by: str
    at: str  # ISO time


class Milestone(TypedDict, total=False):
    """`milestones`: `_id` = the period; the synthesis for the Prime Minister."""

    _id: int
    period: int
    state: str  # open, drafted, sent
    history: list[MilestoneStep]
    reminders: dict[str, str]  # stage -> when its reminder was claimed (ISO)
    due: datetime | str | None  # an operator's due date; none: the platform's reading
    recipients: list[str] | None


class MilestoneView(TypedDict):
    """The milestone as `GET /v1/milestones/{period}` answers it."""

    period: int
    movement: str
    task: str
    due: str
    due_source: str
    state: str
    drafted_by: str | None
    drafted_at: str | None
    sent_by: str | None
    sent_at: str | None
    at_risk: bool
    overdue: bool
    why: str
    recipients: list[str]
    reminders: dict[str, str]
    history: list[MilestoneStep]


# -- reminder texts ---------------------------------------------------------------------------


class ReminderValues(TypedDict):
    """The placeholders a reminder template may use (templates/README.md)."""

    unit_name: str
    unit_id: str
    period: int
    deadline: str
    deadline_short: str
    stage: str
    days_left: int
    days_left_text: str
    days_overdue: int
    days_overdue_text: str
    today: str
    movement_name: str
    organiser: str


class DigestValues(ReminderValues):
    """A digest's placeholders: the reminder's, plus the overdue units."""

    recipient_name: str
    count: int
    unit_lines: str
