"""The scoring database's collections: fields, types, required fields, choices and
indexes (services/common/schema.py checks each document against them before it is
written).

A score's times (`received_at`, `first_received_at`, `scored_at`) are kept as the ISO
texts its event carries; `seq` orders two scorings of one revision (wall-clock
microseconds)."""

from __future__ import annotations

from typing import Any

import mongoengine as me

from services.common.schema import (
    ClusterPeriodDocument,
    DateTimeField,
    IntField,
    UnitPeriodDocument,
)
from services.scoring.leadership import CONFIRMED, OVERRIDDEN, SUGGESTED

LEADERSHIP_STATUSES = (SUGGESTED, CONFIRMED, OVERRIDDEN)


class InForceFields:
    """What the proposals read of a score in force (store.CANDIDATE_FIELDS), its
    revision and `seq` first: a mixin of fields, as are the score's below."""

    revision = IntField(required=True, min_value=1)
    seq = IntField(min_value=0)
    unit_id = me.StringField(required=True)
    period = IntField(required=True)
    unit_type = me.StringField(required=True)
    total = me.FloatField(required=True)
    max = me.FloatField(required=True)
    on_time = me.BooleanField(required=True)
    first_received_at = me.StringField(null=True)
    received_at = me.StringField(null=True)
    rubric_version = me.StringField(required=True)
    event_id = me.StringField(required=True)


class ScoreFields(InForceFields):
    """What every stored score says."""

    submission_id = me.StringField(required=True)
    # [{criterion, points, max_points, explanation, ...}]
    breakdown = me.ListField(me.DictField())
    scored_at = me.StringField(required=True)


class ScoreInForce(ScoreFields, me.EmbeddedDocument):
    """`scores.current`: the score in force (`$max`)."""

    meta = {"strict": False}


class CandidateInForce(InForceFields, me.EmbeddedDocument):
    """`certificate_candidates.current`: what the proposals read of the score in force."""

    meta = {"strict": False}


class ScoreDoc(UnitPeriodDocument):
    """The score in force (`_id` = unit|period) in its embedded `current` (revision and
    `seq` first, see `ScoreStore.save`); only a newer revision, or a later scoring of
    the same revision (a rescore), replaces it."""

    meta = {"collection": "scores", "strict": False,
            "indexes": [{"fields": ["period", "unit_id"]}]}
    current = me.EmbeddedDocumentField(ScoreInForce)


class ScoreHistoryDoc(ScoreFields, me.Document):
    """Every score (`_id` = unit|period|rubric version|r<revision>); never deleted."""

    meta = {"collection": "score_history", "strict": False,
            "indexes": [{"fields": ["unit_id", "period", "rubric_version"]}]}
    id = me.StringField(primary_key=True)


class RubricSelectionDoc(me.Document):
    """The rubric an operator's rescore put in force (`_id` = unit type|period)."""

    meta = {"collection": "rubric_selections", "strict": False}
    id = me.StringField(primary_key=True)
    unit_type = me.StringField(required=True)
    period = IntField(required=True)
    rubric_version = me.StringField(required=True)
    selected_at = DateTimeField(required=True)


class LeadershipDoc(ClusterPeriodDocument):
    """The leadership register (`_id` = cluster|period served): a suggestion, or an
    operator's decision with every earlier decision in `decisions`."""

    meta = {"collection": "leadership", "strict": False,
            "indexes": [{"fields": ["cluster_id", "period"]}]}
    head = me.StringField(null=True)
    deputy = me.StringField(null=True)
    status = me.StringField(required=True, choices=LEADERSHIP_STATUSES)
    rule = me.StringField(required=True)
    reason = me.StringField(null=True)
    decided_at = me.StringField(required=True)  # ISO text
    members = me.ListField(me.StringField())
    # [{status, head, deputy, reason, decided_at}], oldest first
    decisions = me.ListField(me.DictField())
    suggested = me.DictField(null=True)  # {head, deputy, basis} when the rule had one


class PublicationDoc(me.Document):
    """The content hash last published per stream (`_id` = kind|subject|period)."""

    meta = {"collection": "publications", "strict": False}
    id = me.StringField(primary_key=True)
    hash = me.StringField(required=True)


class PendingRankingsDoc(me.Document):
    """A period whose standings and proposals are still to be published (`_id` = period),
    with the units whose scores changed and the token of the latest marking. Written
    before a score's record is done, deleted once a recomputation that read the scores
    after that marking has published (services/scoring/standings_publisher.py): so a crash between
    storing a score and publishing the standings loses nothing. A handful of documents."""

    meta = {"collection": "rankings_pending", "strict": False}
    id = me.StringField(primary_key=True)
    token = me.StringField(required=True)
    period = IntField(required=True)
    units = me.ListField(me.StringField())


class CandidateDoc(UnitPeriodDocument):
    """A certificate candidate (`_id` = period|unit): a unit, in a cluster or not, whose
    score in force was reported on time with at least 85% of its maximum
    (standings.certificate_candidate), with what the proposals read of that score in an
    embedded `current` (revision and `seq` first, as `scores`). Written by `_id` in
    ScoreStore.save's path, deleted when the score in force no longer qualifies, so the
    proposals find the period's candidates without reading `scores`. Only candidates are
    kept: a few percent of the scores, bounded by the certificates the proposals list."""

    meta = {"collection": "certificate_candidates", "strict": False,
            "indexes": [{"fields": ["period"]}]}
    current = me.EmbeddedDocumentField(CandidateInForce)


class ScoringMetaDoc(me.Document):
    """Markers of one-time migrations (`_id` = the migration), read by `_id`."""

    meta = {"collection": "scoring_meta", "strict": False}
    id = me.StringField(primary_key=True)
    done_at = me.StringField(required=True)  # ISO text
    candidates = IntField(min_value=0)


DOCUMENTS: list[Any] = [ScoreDoc, ScoreHistoryDoc, RubricSelectionDoc, LeadershipDoc,
                        PublicationDoc, PendingRankingsDoc, CandidateDoc, ScoringMetaDoc]
