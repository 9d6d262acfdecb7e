"""The submissions database's collections: fields, types, required fields and indexes
(services/common/schema.py checks each document against them before it is written).
Why the pointers, heads and outbox beside each submission: services/submissions/store.py."""

from __future__ import annotations

from typing import Any

import mongoengine as me

from services.common import movements
from services.common.schema import (
    ClusterPeriodDocument,
    DateTimeField,
    IntField,
    UnitPeriodDocument,
)


class SubmissionDoc(UnitPeriodDocument):
    """One revision of a unit's report. Its event (`event`, `published`) is stored with
    it in one write; the `outbox` entry tells the relay it is pending."""

    meta = {
        "collection": "submissions", "strict": False,
        "indexes": [
            # The idempotency claim: one submission per unit and key whatever the pointers say.
            {"fields": ["unit_id", "idempotency_key"], "unique": True},
            # page_for (a unit's revisions). The relay reads the outbox, not a
            # (published, stored_at) index any more: an existing one may be dropped.
            {"fields": ["unit_id", "period", "-revision"]},
        ],
    }
    revision = IntField(required=True)
    idempotency_key = me.StringField(required=True)
    content_hash = me.StringField(required=True)
    received_at = DateTimeField(required=True)
    deadline = DateTimeField(required=True)
    on_time = me.BooleanField(required=True)
    supersedes = me.StringField(null=True)
    # services.common.movements; absent on revisions stored before movements existed
    # (read as the unit type's movement).
    movement = me.StringField(null=True)
    content = me.DictField(required=True)
    event = me.DictField(required=True)
    published = me.BooleanField(default=False)
    published_at = DateTimeField(null=True)
    stored_at = DateTimeField(required=True)
    # What changed since the previous revision (paths with before and after values).
    changes = me.ListField(me.DictField(), default=list)


class SubmissionKeyDoc(me.Document):
    """Which submission an Idempotency-Key produced (`_id` = unit|key): a replay is one
    read by `_id`. Written after the submission; a missing one is found again through the
    unique index when the replay's insert conflicts."""

    meta = {"collection": "submission_keys", "strict": False}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    submission_id = me.StringField(required=True)
    content_hash = me.StringField(required=True)


class SubmissionHeadDoc(UnitPeriodDocument):
    """The latest revision of a unit's period (`_id` = unit|period), only ever raised
    (`$max`). Written after the submission, so it may lag behind by a crash: the next
    revision's insert then conflicts and raises it."""

    meta = {"collection": "submission_heads", "strict": False}
    revision = IntField(required=True)
    # The first report's timeliness, which every amendment keeps.
    on_time = me.BooleanField(required=True)


class OutboxDoc(me.Document):
    """A submission (`_id` = its id) that may not be on Kafka yet. Written BEFORE the
    submission, deleted after it is marked published: the relay lists only these. An
    entry whose submission is published, or was never stored, is harmless: the relay
    checks and deletes it."""

    meta = {"collection": "outbox", "strict": False}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    stored_at = DateTimeField(required=True)


class MarkerDoc(me.Document):
    """One-time data changes already done (`_id` = their name)."""

    meta = {"collection": "submission_markers", "strict": False}
    id = me.StringField(primary_key=True)
    done_at = DateTimeField(required=True)
    submissions = IntField(required=True)


class UnlockDoc(UnitPeriodDocument):
    """An operator's decision on amending a unit's period (`_id` = unit|period): an
    unlock until `expires_at`, or a lock (`locked_reason`) that refuses amendments."""

    meta = {"collection": "unlocks", "strict": False}
    reason = me.StringField(required=True)
    granted_at = DateTimeField(required=True)
    expires_at = DateTimeField(null=True)
    locked_reason = me.StringField(null=True)


class ConferenceDoc(ClusterPeriodDocument):
    """A cluster conference's record (`_id` = cluster|period reviewed), as last recorded
    (services/submissions/conferences.py; published as conference-recorded.v1)."""

    meta = {"collection": "conferences", "strict": False}
    date = me.StringField(required=True)
    place = me.StringField()
    # [{unit_id, award, reason}]: what the conference agreed to propose
    proposals = me.ListField(me.DictField(), default=list)
    head = me.StringField(required=True)
    deputy = me.StringField(null=True)
    recorded_by = me.StringField(required=True)
    recorded_at = me.StringField(required=True)
    reason = me.StringField()


class DeadlineDoc(me.Document):
    """An operator's deadline (`_id` = movement|period): `deadline` (ISO, with offset),
    who set it, when and why."""

    meta = {"collection": "deadlines", "strict": False}
    id = me.StringField(primary_key=True)
    movement = me.StringField(required=True, choices=movements.IDS)
    period = IntField(required=True)
    deadline = me.StringField(required=True)
    set_by = me.StringField(required=True)
    set_at = me.StringField(required=True)
    reason = me.StringField()


DOCUMENTS: list[Any] = [SubmissionDoc, SubmissionKeyDoc, SubmissionHeadDoc, OutboxDoc,
                        MarkerDoc, UnlockDoc, ConferenceDoc, DeadlineDoc]
