"""The notifications database's collections: fields, types, required fields, choices and
indexes (services/common/schema.py checks each document against them before it is
written).

Every exclusive step is an insert with a deterministic `_id` (duplicate key = someone
else has it), because FerretDB has no transactions and no atomic findAndModify."""

from __future__ import annotations

from typing import Any

import mongoengine as me

from services.common.schema import DateTimeField, IntField, KeyedDocument, UnitPeriodDocument

CHANNELS = ("email", "sms")
KINDS = ("reminder", "digest")
# A reminder's ledger states: claimed (`sending`), an outcome, or waiting for a retry.
LEDGER_STATUSES = ("sending", "sent", "delivered", "failed", "unknown", "cancelled",
                   "skipped", "retrying", "escalated")
WAIT_REASONS = ("quiet-hours", "retry")


class UnitStatusDoc(UnitPeriodDocument):
    """`_id` = unit|period; the first report decides timeliness."""

    meta = {"collection": "unit_status", "strict": False,
            "indexes": [{"fields": ["period"]}]}
    first_submission_id = me.StringField(required=True)
    # The event's ISO text, as it came.
    first_received_at = me.StringField(null=True)
    on_time = me.BooleanField(required=True)
    latest_revision = IntField(min_value=1)


class PeriodStatusDoc(KeyedDocument):
    """`_id` = the period: `units.<unit>` = whether its first report was on time. Written
    by `_id` with each report, so a pass reads who reported with one read by `_id`."""

    meta = {"collection": "period_status"}
    period = IntField(required=True)
    # unit id (escaped: store.unit_field) -> on time
    units = me.MapField(me.BooleanField())


class MarkerDoc(KeyedDocument):
    """`_id` = a one-time backfill that is done."""

    meta = {"collection": "markers"}
    documents = IntField(required=True, min_value=0)


class CampaignDoc(KeyedDocument):
    """`_id` = the period; the campaign's spec (see campaigns.campaign_spec)."""

    meta = {"collection": "campaigns"}
    period = IntField(required=True)
    deadline = me.StringField(required=True)  # ISO text with the campaign's offset
    timezone = me.StringField(required=True)
    # [{name, days, hour, minute, escalate}]
    stages = me.ListField(me.DictField())
    channels = me.ListField(me.StringField(choices=CHANNELS))
    quiet_hours = me.DictField(null=True)  # {start, end} as HH:MM, or none
    audience = me.DictField()  # {unit_ids, unit_types}
    escalation = me.DictField()  # {national, cluster_heads, supervisors}
    catch_up_hours = me.FloatField(required=True)
    paused = me.BooleanField(required=True)
    paused_changed_at = DateTimeField(null=True)
    source = me.StringField(choices=("defaults", "operator"))  # who set it
    created_at = DateTimeField(null=True)  # from the defaults
    updated_at = DateTimeField(null=True)  # by an operator


class LedgerDoc(UnitPeriodDocument):
    """`_id` = period|unit|stage|channel|recipient. Inserting it claims the reminder;
    it then records the outcome (sent, delivered, failed, unknown, cancelled, skipped)."""

    meta = {"collection": "ledger", "strict": False,
            "indexes": [{"fields": ["unit_id", "period"]}, {"fields": ["period", "stage"]}]}
    stage = me.StringField(required=True)
    channel = me.StringField(required=True, choices=CHANNELS)
    recipient = me.StringField(required=True)
    kind = me.StringField(choices=KINDS)  # absent: a reminder (before digests existed)
    status = me.StringField(required=True, choices=LEDGER_STATUSES)
    owner = me.StringField(null=True)
    round = IntField(min_value=1)
    claimed_at = DateTimeField()
    touched_at = DateTimeField()
    at = DateTimeField()  # the campaign's clock when claimed
    sent_at = DateTimeField(null=True)
    delivered_at = DateTimeField(null=True)  # by the provider's receipt
    provider = me.StringField(null=True)
    provider_ids = me.ListField(me.StringField())
    # [{provider, outcome, detail, round}]
    attempts = me.ListField(me.DictField())
    detail = me.StringField()
    units = me.ListField(me.StringField())  # a digest's units
    claim_token = me.StringField(null=True)
    message_id = me.StringField(null=True)
    fallback_of = me.StringField(null=True)
    note = me.StringField(null=True)
    fallback = me.StringField(null=True)
    fallback_key = me.StringField(null=True)
    not_before = DateTimeField(null=True)
    unknown_reason = me.StringField(null=True)
    resolution = me.StringField(null=True)
    resolved_at = DateTimeField(null=True)
    receipts = me.DictField(null=True)  # message id -> delivery receipt stat


class OpenClaimDoc(KeyedDocument):
    """`_id` = a ledger key in `sending` (claimed, no outcome yet): written before the
    entry becomes `sending`, deleted by `_id` once it leaves that state, so abandoned
    claims are found without searching the ledger by status (a scan on FerretDB).
    One may outlive its entry's state (a crash, a lost claim race): `reconcile` checks
    the entry and deletes it then."""

    meta = {"collection": "open_claims"}
    unit_id = me.StringField(required=True)
    since = DateTimeField(null=True)


class UnresolvedDoc(KeyedDocument):
    """`_id` = a ledger key whose outcome is `unknown` and not yet resolved (reconciled
    by its Message-ID or escalated to the other channel, see resolver.py): written before
    the entry says `unknown`, deleted by `_id` once it is resolved, so the resolver never
    searches the ledger by status."""

    meta = {"collection": "unresolved"}
    unit_id = me.StringField(required=True)
    since = DateTimeField(required=True)


class DeferralDoc(KeyedDocument):
    """`_id` = a ledger key that waits: for the SMS window (quiet hours) or for a retry."""

    meta = {"collection": "deferrals"}
    reason = me.StringField(required=True, choices=WAIT_REASONS)
    not_before = DateTimeField(required=True)
    unit_id = me.StringField(required=True)
    period = IntField(required=True)
    stage = me.StringField(required=True)
    channel = me.StringField(required=True, choices=CHANNELS)
    recipient = me.StringField(required=True)
    kind = me.StringField(choices=KINDS)
    round = IntField(min_value=1)  # a retry's next round
    units = me.ListField(me.StringField())
    deferred_at = DateTimeField(null=True)


class RoundClaimDoc(KeyedDocument):
    """`_id` = key#r<n>: the right to make retry round n of a reminder."""

    meta = {"collection": "round_claims"}
    owner = me.StringField(required=True)
    claimed_at = DateTimeField(required=True)


class ProviderMessageDoc(KeyedDocument):
    """`_id` = provider:message id -> the ledger key, and the delivery receipt."""

    meta = {"collection": "provider_messages"}
    key = me.StringField()  # the ledger key (a receipt may come first)
    stat = me.StringField()
    receipt_at = DateTimeField()


class OutboxDoc(KeyedDocument):
    """`_id` = the event id: an event not yet acknowledged by Kafka (deleted once it
    is)."""

    meta = {"collection": "outbox"}
    key = me.StringField(required=True)  # the record key (the unit)
    event = me.DictField(required=True)  # the CloudEvent
    created_at = DateTimeField(required=True)


class MilestoneDoc(me.Document):
    """The synthesis for the Prime Minister, the operators' own task (`_id` = the period;
    services/notifications/milestone.py)."""

    meta = {"collection": "milestones", "strict": False}
    id = IntField(primary_key=True)
    period = IntField(required=True)
    state = me.StringField(required=True)  # open, drafted, sent
    # [{state, by, at}]: who moved it, when
    history = me.ListField(me.DictField(), default=list)
    # stage -> when its reminder was claimed (each sent once)
    reminders = me.DictField(default=dict)
    due = DateTimeField(null=True)  # an operator's due date; none: the platform's reading
    recipients = me.ListField(me.StringField(), null=True)


DOCUMENTS: list[Any] = [UnitStatusDoc, PeriodStatusDoc, MarkerDoc, CampaignDoc, LedgerDoc,
                        OpenClaimDoc, UnresolvedDoc, DeferralDoc, RoundClaimDoc,
                        ProviderMessageDoc, OutboxDoc, MilestoneDoc]
