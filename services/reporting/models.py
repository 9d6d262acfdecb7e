"""The reporting service's own shapes: the read-model documents it stores (one per
collection, as projections.py builds them and store.py reads them back), what it reads
of the registry replica, and the rows and sections of the reports it assembles.

Typed dicts, so they are the stored and served dicts themselves (no copy per event):
a key renamed here is caught by mypy wherever it is read. Untyped dicts are left for the
edges: raw BSON at the store boundary, the registry replica's raw documents, and the
JSON bodies served."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

# typing_extensions: pydantic reads these for the API's documented schemas (api.py), and
# takes only that TypedDict before Python 3.12.
from pydantic import Field
from typing_extensions import TypedDict

# -- the read-model documents (rm_*) ----------------------------------------------------


class ScoreLine(TypedDict):
    criterion: str
    points: float | None
    max_points: float | None
    explanation: str


class ReportBase(TypedDict):
    """What every `rm_submissions` document starts with (`$setOnInsert`)."""

    unit_id: str
    period: int


class FirstReport(TypedDict):
    """The first report of a unit and period (kept with `$min`): it decides timeliness."""

    first_revision: int
    first_submission_id: str | None
    first_received_at: datetime | None
    on_time: bool


class ContentDigest(TypedDict):
    """What the reports keep of one emulation content of a submission."""

    summary: str
    indicators: dict[str, float]
    evidence_count: int


class LatestRevision(TypedDict):
    """The latest revision of a unit and period (kept with `$max`): what was done."""

    revision: int
    latest_submission_id: str | None
    latest_received_at: datetime | None
    deadline: datetime | None
    unit_type: str
    contents: dict[str, ContentDigest]
    flags_held: list[str]
    person_group: NotRequired[str | None]  # individuals only


class UnitReport(ReportBase, FirstReport, LatestRevision):
    """An `rm_submissions` document as the reports read it (store.flat_report): the
    base, the first report's fields and the latest revision's, side by side (one
    update writes both parts)."""

    _id: str


class ScoreDoc(TypedDict):
    """`rm_scores`: the current score of a unit and period."""

    _id: str
    unit_id: str
    period: int
    total: float | None
    max: float | None
    breakdown: list[ScoreLine]
    rubric_version: str | None
    submission_id: str | None
    revision: int
    on_time: bool | None
    scored_at: datetime | None
    order: str


class ReminderDoc(TypedDict):
    """`rm_reminders`: one reminder (unit, period, stage, channel, recipient) with its
    latest status."""

    _id: str  # unit_id|period|stage|channel|recipient
    status: str
    unit_id: str
    period: int
    stage: str
    channel: str
    recipient: str
    sent_at: datetime | None
    updated_at: datetime | None
    order: str


class StandingRow(TypedDict):
    unit_id: str
    rank: int | None
    score: float | None
    max: float | None
    submitted: bool
    on_time: bool | None
    revision: int | None
    breakdown: list[ScoreLine]


class StandingsDoc(TypedDict):
    """`rm_standings`: the latest standings scoring published for a cluster and period."""

    _id: str
    cluster_id: str
    period: int
    rubric_version: str | None
    tie_break: Any  # scoring's description of its tie-break, shown as it came
    computed_at: datetime | None
    standings: list[StandingRow]
    order: str


class Proposal(TypedDict):
    unit_id: str
    cluster_id: str | None
    award: str
    reason: str


class ProposalsDoc(TypedDict):
    """`rm_proposals`: the latest recognition proposals of a period."""

    _id: str
    period: int
    computed_at: datetime | None
    cluster_leaders: Any  # as scoring published them, shown as they came
    government_flag_cap: Any
    proposals: list[Proposal]
    order: str


class LeadershipDoc(TypedDict):
    """`rm_leadership`: a cluster's head and deputy for the year they serve."""

    _id: str
    cluster_id: str
    period: int
    head: str | None
    deputy: str | None
    status: str | None
    rule: str | None
    reason: str | None
    decided_at: datetime | None
    order: str


# What the national synthesis of a period is computed from, by unit id.
ReportsByUnit = dict[str, UnitReport]
ScoresByUnit = dict[str, ScoreDoc]
RemindersByUnit = dict[str, list[ReminderDoc]]

# -- what reporting reads of the registry replica ---------------------------------------


class RegistryUnit(TypedDict, total=False):
    """A unit of the registry replica as reporting reads it (`_id` is the unit id;
    `clusters` its cluster by year)."""

    _id: str
    name: str
    name_en: str
    type: str
    clusters: dict[str, str]


class ClusterEntry(TypedDict):
    """A cluster in one period (membership.clusters_for_period)."""

    name: str
    members: list[str]
    head: str | None
    deputy: str | None


Clusters = dict[str, ClusterEntry]

# -- the reports' rows and sections -----------------------------------------------------


class Counts(TypedDict):
    expected: int
    submitted: int
    on_time: int
    late: int
    completeness: float
    timeliness: float


class UnitRow(TypedDict):
    """One expected unit in a report: who it is, whether and when it reported, its score."""

    unit_id: str
    name: str
    name_en: str
    type: str
    cluster_id: str | None
    submitted: bool
    first_received_at: str | None
    on_time: bool | None
    revision: int | None
    score: float | None
    max: float | None


class ReminderRow(TypedDict):
    stage: str | None
    channel: str | None
    recipient: NotRequired[str | None]  # not in a member's copy of others' reminders
    status: str | None
    sent_at: str | None


class MissingUnit(TypedDict):
    unit_id: str
    name: str
    type: str
    cluster_id: str | None
    reminders: list[ReminderRow]


class NamedProposal(Proposal):
    name: str
    award_label: str


class ProposalsView(TypedDict):
    computed_at: str | None
    government_flag_cap: Any
    cluster_leaders: Any
    items: list[NamedProposal]


class NamedStanding(StandingRow):
    name: str


class ClusterCounts(Counts):
    name: str


class ScoreDistribution(TypedDict):
    count: int
    mean: float | None
    median: float | None
    min: float | None
    max: float | None
    max_possible: float | None
    histogram: list[dict[str, int]]  # from, to, count ("from" is no identifier)


class Example(TypedDict):
    unit_id: str
    name: str
    summary: str


class ContentSummary(TypedDict):
    """What was done under one emulation content, over the units that reported on it."""

    title: str
    title_en: str
    units_reported: int
    indicators: dict[str, float]
    examples: list[Example]


class ConferenceView(TypedDict):
    """The registry's record of a cluster conference, its proposals named."""

    date: Any
    place: Any
    recorded_by: Any
    recorded_at: Any
    proposals: list[ConferenceProposalView]  # the registry's own, named and labelled


class ConferenceProposalView(TypedDict):
    """A conference's proposal (contracts.ConferenceProposal), with the unit's name and
    the award's label."""

    unit_id: str
    award: str
    reason: str
    name: str
    award_label: str


class NamedUnit(TypedDict):
    unit_id: str
    name: str


class Leadership(TypedDict):
    """Head and deputy of a cluster for the next year, and where that comes from."""

    period: int
    head: NamedUnit | None
    deputy: NamedUnit | None
    status: str | None
    status_label: str | None
    rule: str | None
    reason: str | None
    decided_at: str | None
    source: str


class ClusterLinks(TypedDict):
    cluster_id: str
    name: str
    links: dict[str, str]  # by format


class ReportLinks(TypedDict):
    """The dashboard's links to every report of a period, by format."""

    national: dict[str, str]
    clusters: list[ClusterLinks]


class DailyPoint(TypedDict):
    """The cumulative reporting rates at the end of one Hanoi calendar day."""

    date: str
    submitted: int
    on_time: int
    completeness: float
    timeliness: float


class IndividualsSummary(TypedDict):
    """The people's records of criterion group 5 (docs/submissions.md, "Individuals"):
    counts only, no person's id."""

    submitted: int
    on_time: int
    scored: int
    by_group: Annotated[dict[str, int], Field(
        description="5a (armed forces) and 5b (other subjects)")]
    by_unit: Annotated[dict[str, int], Field(
        description="records by the unit that reported them")]


class ReminderOutcomes(TypedDict):
    """Every reminder of a period by its latest status, and the two operators watch."""

    reminder_statuses: dict[str, int]
    reminders_unknown: int
    reminders_escalated: int


class NationalReport(Counts):
    """One movement's national synthesis of a period (the json format; the other
    formats carry the same content). Built by domain.national_report; the service sets
    `as_of`, `last_event_at` and `statement` per request."""

    period: int
    movement: str | None
    movement_name: str
    organiser: Annotated[str, Field(description="who reads this movement's synthesis")]
    as_of: str
    last_event_at: str | None
    statement: str
    deadline: str
    by_type: dict[str, Counts]
    by_cluster: dict[str, ClusterCounts]
    missing: list[str]
    individuals: Annotated[IndividualsSummary, Field(
        description="individuals' records (toan-dan only; zero in vi-an-ninh)")]
    missing_units: list[MissingUnit]
    reminders_sent: int
    reminder_statuses: Annotated[dict[str, int], Field(
        description="every reminder of the period by its latest status")]
    reminders_unknown: Annotated[int, Field(
        description="reminders of the period whose outcome is still unknown (resolved "
                    "within minutes normally)")]
    reminders_escalated: Annotated[int, Field(
        description="reminders of the period sent again by the other channel because "
                    "their outcome was unknown")]
    scored: int
    scores: ScoreDistribution
    scale_note: str
    contents: dict[str, ContentSummary]
    proposals: ProposalsView | None
    units: list[UnitRow]


class ClusterReport(Counts):
    """A cluster's year-end report for its conference (cluster_report.cluster_report)."""

    cluster_id: str
    name: str
    period: int
    as_of: str
    last_event_at: str | None
    statement: str
    deadline: str
    members: list[UnitRow]
    head: NamedUnit | None
    deputy: NamedUnit | None
    standings: list[NamedStanding]
    standings_source: Literal["scoring", "derived"]
    scale_note: str
    standings_computed_at: str | None
    rubric_version: str | None
    tie_break: Any
    proposals: list[NamedProposal]
    conference: Annotated[ConferenceView | None, Field(
        description="the record of the cluster's conference reviewing the year (date, "
                    "place, the proposals it agreed, who recorded it); `proposals` and "
                    "`standings` are the platform's computed suggestions for it")]
    next_year_leadership: Leadership | None
    missing: list[str]
    missing_units: list[MissingUnit]


Report = NationalReport | ClusterReport
