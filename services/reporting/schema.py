"""The reporting read models' collections: fields, types, required fields and indexes
(services/common/schema.py checks each document against them before it is written).

Times are datetimes (the projections parse the events' ISO texts); `order` is the
sortable text a newer event replaces a document by (services/reporting/projections.py)."""

from __future__ import annotations

from typing import Any

import mongoengine as me

from services.common.schema import (
    ClusterPeriodDocument,
    DateTimeField,
    IntField,
    UnitPeriodDocument,
)


class FirstReportPart(me.EmbeddedDocument):
    """The first report of a unit's period: kept with `$min` (its revision first)."""

    meta = {"strict": False}
    first_revision = IntField(required=True, min_value=1)
    first_submission_id = me.StringField(null=True)
    first_received_at = DateTimeField(null=True)
    on_time = me.BooleanField(required=True)


class LatestRevisionPart(me.EmbeddedDocument):
    """The latest revision of a unit's period: kept with `$max` (its revision first)."""

    meta = {"strict": False}
    revision = IntField(required=True, min_value=1)
    latest_submission_id = me.StringField(null=True)
    latest_received_at = DateTimeField(null=True)
    deadline = DateTimeField(null=True)
    unit_type = me.StringField(required=True)
    # content name -> {summary, indicators, evidence_count}
    contents = me.DictField()
    flags_held = me.ListField(me.StringField())
    # A person's record (unit type individual): 5a or 5b (services.common.individuals).
    person_group = me.StringField(null=True, choices=("5a", "5b"))


class ReportDoc(UnitPeriodDocument):
    """Each unit's report of a period (`_id` = unit|period): the first receipt and its
    timeliness, the latest revision and what it says was done."""

    meta = {"collection": "rm_submissions", "strict": False,
            "indexes": [{"fields": ["period"]}]}
    first = me.EmbeddedDocumentField(FirstReportPart)
    latest = me.EmbeddedDocumentField(LatestRevisionPart)


class ScoreViewDoc(UnitPeriodDocument):
    """The score in force with its breakdown (`_id` = unit|period)."""

    meta = {"collection": "rm_scores", "strict": False, "indexes": [{"fields": ["period"]}]}
    total = me.FloatField(null=True)
    max = me.FloatField(null=True)
    # [{criterion, points, max_points, explanation}]
    breakdown = me.ListField(me.DictField())
    rubric_version = me.StringField(null=True)
    submission_id = me.StringField(null=True)
    revision = IntField(required=True)
    on_time = me.BooleanField(null=True)
    scored_at = DateTimeField(null=True)
    order = me.StringField(required=True)


class ReminderViewDoc(UnitPeriodDocument):
    """One reminder and its latest status (`_id` = unit|period|stage|channel|recipient)."""

    meta = {"collection": "rm_reminders", "strict": False,
            "indexes": [{"fields": ["period"]}]}
    stage = me.StringField(required=True)
    channel = me.StringField(required=True)
    recipient = me.StringField(required=True)
    # Free text on purpose: a status a newer notifications service adds is still shown.
    status = me.StringField(required=True)
    sent_at = DateTimeField(null=True)
    updated_at = DateTimeField(null=True)
    order = me.StringField(required=True)


class StandingsViewDoc(ClusterPeriodDocument):
    """The latest standings of a cluster (`_id` = cluster|period)."""

    meta = {"collection": "rm_standings", "strict": False}
    rubric_version = me.StringField(null=True)
    tie_break = me.DynamicField(null=True)
    computed_at = DateTimeField(null=True)
    # [{unit_id, rank, score, max, submitted, on_time, revision, breakdown}]
    standings = me.ListField(me.DictField())
    order = me.StringField(required=True)


class ProposalsViewDoc(me.Document):
    """The latest recognition proposals of a period (`_id` = period)."""

    meta = {"collection": "rm_proposals", "strict": False}
    id = me.StringField(primary_key=True)
    period = IntField(required=True)
    computed_at = DateTimeField(null=True)
    cluster_leaders = me.DynamicField(null=True)
    government_flag_cap = me.DynamicField(null=True)
    # [{unit_id, cluster_id, award, reason}]
    proposals = me.ListField(me.DictField())
    order = me.StringField(required=True)


class LeadershipViewDoc(ClusterPeriodDocument):
    """A cluster's head and deputy for the year they serve (`_id` = cluster|period)."""

    meta = {"collection": "rm_leadership", "strict": False}
    head = me.StringField(null=True)
    deputy = me.StringField(null=True)
    status = me.StringField(null=True)
    rule = me.StringField(null=True)
    reason = me.StringField(null=True)
    decided_at = DateTimeField(null=True)
    order = me.StringField(required=True)


class MetaDoc(me.Document):
    """`watermark`: the time of the newest event applied (`last_event_at`, what a report
    reflects); `version|<period>`: a token that changes after every write the national
    synthesis of that period reads (`freshness.Versions`)."""

    meta = {"collection": "rm_meta", "strict": False}
    id = me.StringField(primary_key=True)
    last_event_at = DateTimeField(null=True)
    token = me.StringField(null=True)


DOCUMENTS: list[Any] = [ReportDoc, ScoreViewDoc, ReminderViewDoc, StandingsViewDoc,
                        ProposalsViewDoc, LeadershipViewDoc, MetaDoc]
# The document class of each read-model collection, for the writes that take a collection.
BY_COLLECTION: dict[str, type[me.Document]] = {d._meta["collection"]: d for d in DOCUMENTS}
