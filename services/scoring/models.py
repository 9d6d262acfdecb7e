"""Typed models of the scoring service's own documents and views (TypedDicts: plain dicts at
run time, checked by mypy). schema.py says the same of the documents to the database;
the event payloads scoring produces and reads are the platform's contracts
(services/common/contracts.py).

No `from __future__ import annotations` here: Python 3.11 reads `NotRequired` only from
evaluated annotations when it works out a TypedDict's required keys."""

from typing import NotRequired, TypedDict

from services.common.contracts import (
    ClusterLeadership,
    CriterionScore,
)
from services.common.registry_replica import ReplicaYear


class ScoreRecord(TypedDict):
    """A score as the store keeps it: every score computed (`score_history`), the score
    in force (`scores.current`, flattened with its document's `_id` by store.flat_score),
    and what a certificate candidate keeps of it (store.CANDIDATE_FIELDS: no submission,
    breakdown, time of scoring or movement)."""

    _id: NotRequired[str]
    unit_id: str
    period: int
    unit_type: str
    movement: NotRequired[str]  # none on scores kept from before movements existed
    revision: int
    # Orders two scorings of one revision (wall-clock microseconds of the scoring).
    seq: NotRequired[int]
    total: float
    max: float
    on_time: bool
    received_at: str | None
    first_received_at: str | None  # the unit's first revision: the standings' tie-break
    rubric_version: str
    event_id: str  # of the vn.emulation.score.computed event that published it
    submission_id: NotRequired[str]
    breakdown: NotRequired[list[CriterionScore]]
    scored_at: NotRequired[str]


class Decision(TypedDict):
    """An operator's decision on a cluster's head and deputy (retired scoring route)."""

    status: str
    head: str
    deputy: str | None
    reason: str | None
    decided_at: str


class SuggestedPair(TypedDict):
    """What the rotation rule suggested when an operator decided."""

    head: str
    deputy: str | None
    basis: str


class LeadershipRecord(ClusterLeadership):
    """The leadership register's document of a cluster and the year served (`_id` =
    cluster|period): the rule's suggestion, or an operator's decision with the earlier
    ones in `decisions`; the data of its event plus the members it was chosen among."""

    _id: NotRequired[str]
    members: list[str]
    decisions: list[Decision]
    suggested: NotRequired[SuggestedPair | None]


class LeadershipView(LeadershipRecord):
    """A cluster's head and deputy for a year as the API answers them, with where they
    come from: `rule`, `registry`, `conference` or `operator`."""

    source: str


# A cluster's registry record by year (the replica's `years`, each with the conference's
# record when one was made; None: dissolved that year).
ClusterYears = dict[str, ReplicaYear | None]
