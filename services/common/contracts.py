"""The platform's cross-service contracts as types: the `data` of every CloudEvent under
`schemas/events/` and the submission request body (`schemas/requests/`), one TypedDict
each, required keys required and optional keys `NotRequired`.

The JSON Schemas stay the authority (they validate every request and every consumed
event); these types let mypy check the code that builds or reads the payloads, and
tests/unit/common/test_contracts.py checks every TypedDict's keys, and its required/optional
split, against its schema, so a key renamed in a schema or in the code fails a test.
`PAYLOADS` ties each event type of the one catalogue (`event_types`) to its schema and
its payload type. Types are free at run time: nothing here validates or converts.

Enumerated strings (a movement, a unit type, an award, a status) are typed `str`: the
schemas hold the enumerations, and the code reads them from the registry and settings.

No `from __future__ import annotations` here: Python 3.11 reads `NotRequired` only from
evaluated annotations when it works out a TypedDict's required keys."""

from dataclasses import dataclass
from typing import NotRequired, TypedDict

from services.common import event_types

# --- schemas/requests/submission-request.v1.json: the body of POST /v1/submissions and
# the data of a vn.emulation.submission.requested event.


class Evidence(TypedDict):
    """A document backing a content (`$defs/evidence`)."""

    url: str
    sha256: str
    title: NotRequired[str]


class Content(TypedDict):
    """What a unit did under one of the plan's six contents (`$defs/content`)."""

    summary: str
    indicators: NotRequired[dict[str, float]]
    evidence: NotRequired[list[Evidence]]


class Contents(TypedDict, total=False):
    """The six contents of the plan, one entry per content reported (at least one)."""

    implement_directives: Content
    local_government: Content
    movement_quality: Content
    science_technology: Content
    security_forces: Content
    propaganda: Content


class Assessment(TypedDict):
    """A self-assessment of one criterion (`$defs/assessment`)."""

    rating: int
    comment: NotRequired[str]


class SubmittedBy(TypedDict, total=False):
    name: str
    title: str
    email: str


class SubmissionRequest(TypedDict):
    """A unit's yearly report, as validated against the request schema.

    `self_assessment` maps a criterion id of the unit's type (M1-M4, P1-P4, F1-F4, O1-O2,
    I1 or I2) to its assessment."""

    unit_id: str
    period: int
    contents: Contents
    self_assessment: dict[str, Assessment]
    movement: NotRequired[str]
    flags_held: NotRequired[list[str]]
    submitted_by: NotRequired[SubmittedBy]
    notes: NotRequired[str]


# --- emulation.submissions.v1


class AcceptedReceipt(TypedDict):
    """What the unit's receipt says: the first keys of a submission's accepted event."""

    submission_id: str
    unit_id: str
    period: int
    revision: int
    on_time: bool
    received_at: str
    deadline: str
    supersedes: NotRequired[str | None]


class SubmissionAcceptedV1(AcceptedReceipt):
    """The data of vn.emulation.submission.accepted, version 1 (a reader takes
    its unit type's movement)."""

    unit_type: str
    content: SubmissionRequest
    changed_paths: NotRequired[list[str]]


class SubmissionAccepted(SubmissionAcceptedV1):
    """The data of vn.emulation.submission.accepted, version 2 (the current one)."""

    movement: str


# --- emulation.scores.v1


class CriterionScore(TypedDict):
    """One criterion's points in a score's breakdown."""

    criterion: str
    points: float
    max_points: float
    explanation: str


class ScoreComputedV1(TypedDict):
    """The data of vn.emulation.score.computed, version 1 (read as its unit type's movement)."""

    unit_id: str
    period: int
    total: float
    max: float
    breakdown: list[CriterionScore]
    rubric_version: str
    submission_id: str
    revision: int
    on_time: NotRequired[bool]
    scored_at: NotRequired[str]


class ScoreComputed(ScoreComputedV1):
    """The data of vn.emulation.score.computed, version 2 (the current one)."""

    movement: str


class Standing(TypedDict):
    """One member's line in a cluster's standings."""

    unit_id: str
    rank: int
    score: float | None
    max: float | None
    submitted: bool
    on_time: bool | None
    revision: int | None
    breakdown: list[CriterionScore]


class ClusterStandings(TypedDict):
    """The data of vn.emulation.cluster.standings."""

    cluster_id: str
    period: int
    rubric_version: str | None
    computed_at: str
    tie_break: str
    standings: list[Standing]
    sequence: NotRequired[int]


class RecognitionProposal(TypedDict):
    unit_id: str
    cluster_id: str | None
    award: str
    reason: str


class RecognitionProposals(TypedDict):
    """The data of vn.emulation.recognition.proposals."""

    period: int
    computed_at: str
    cluster_leaders: int
    government_flag_cap: int
    proposals: list[RecognitionProposal]
    sequence: NotRequired[int]


class ClusterLeadership(TypedDict):
    """The data of vn.emulation.cluster.leadership: a cluster's head and deputy for the
    year they serve."""

    cluster_id: str
    period: int
    head: str
    deputy: str | None
    status: str
    rule: str
    reason: str | None
    decided_at: str
    sequence: NotRequired[int]


# --- emulation.units.v1 (the registry)


class UnitContacts(TypedDict):
    emails: list[str]
    phones: list[str]
    language: str


class UnitRegistered(TypedDict):
    """The data of vn.emulation.registry.unit; `clusters` maps a period (as a string)
    to a cluster id."""

    unit_id: str
    name: str
    type: str
    contacts: UnitContacts
    clusters: dict[str, str]
    name_en: NotRequired[str]
    valid_from: NotRequired[int | None]
    valid_until: NotRequired[int | None]
    successor: NotRequired[str | None]
    supervisor: NotRequired[str | None]
    organization_kind: NotRequired[str | None]


class ClusterYear(TypedDict):
    """A cluster's members (and head and deputy) in one year."""

    members: list[str]
    head: NotRequired[str | None]
    deputy: NotRequired[str | None]
    dissolved: NotRequired[bool]


class ClusterRegistered(TypedDict):
    """The data of vn.emulation.registry.cluster. `years` maps a year (as a string) to its entry."""

    cluster_id: str
    name: str
    years: dict[str, ClusterYear]


class ConferenceProposal(TypedDict):
    unit_id: str
    award: str
    reason: str


class ConferenceRecorded(TypedDict):
    """The data of vn.emulation.registry.conference: a cluster conference's decisions."""

    cluster_id: str
    period: int
    date: str
    place: str
    proposals: list[ConferenceProposal]
    head: str
    deputy: str | None
    recorded_by: str
    recorded_at: str
    reason: NotRequired[str | None]


class DeadlineSet(TypedDict):
    """The data of vn.emulation.registry.deadline: a movement's deadline for a period."""

    movement: str
    period: int
    deadline: str
    set_by: str
    set_at: str
    reason: NotRequired[str | None]


# --- emulation.notifications.v1


class NotificationV1(TypedDict):
    """The data of vn.emulation.notification.<status>, version 1 (a reader takes its
    unit type's movement)."""

    unit_id: str
    period: int
    stage: str
    channel: str
    recipient: str
    status: str
    provider: NotRequired[str]
    sent_at: NotRequired[str | None]
    detail: NotRequired[str]
    kind: NotRequired[str]
    units: NotRequired[list[str]]
    attempt: NotRequired[int]
    round: NotRequired[int]
    not_before: NotRequired[str | None]
    fallback: NotRequired[str]
    fallback_of: NotRequired[str]
    delivered_at: NotRequired[str | None]


class Notification(NotificationV1):
    """The data of vn.emulation.notification.<status>, version 2 (the current one)."""

    movement: str


# --- dead-letter topics


class DeadLetterHeader(TypedDict):
    key: str
    value: str
    value_encoding: str


class DeadLetter(TypedDict):
    """The data of vn.emulation.dead-letter: a record that could not be processed, with
    the reason."""

    consumer: str
    topic: str
    partition: int
    offset: int
    reason: str
    detail: str
    value: str
    value_encoding: str
    key: NotRequired[str]
    errors: NotRequired[list[object]]
    headers: NotRequired[list[DeadLetterHeader]]
    value_cut: NotRequired[bool]


# Any event's data, as a producer builds it (`envelope.new_event` takes one).
Payload = (SubmissionRequest | SubmissionAcceptedV1 | ScoreComputedV1 | ClusterStandings
           | RecognitionProposals | ClusterLeadership | UnitRegistered | ClusterRegistered
           | ConferenceRecorded | DeadlineSet | NotificationV1 | DeadLetter)


# --- the catalogue: event type -> its schemas and payload types


@dataclass(frozen=True)
class EventContract:
    """An event type's current schema and payload type, and the older versions still read."""

    event_type: str
    schema: str
    payload: type
    older: tuple[tuple[str, type], ...] = ()


PAYLOADS: dict[str, EventContract] = {c.event_type: c for c in (
    EventContract(event_types.SUBMISSION_REQUESTED, "submission-requested.v1",
                  SubmissionRequest),
    EventContract(event_types.SUBMISSION_ACCEPTED, "submission-accepted.v2", SubmissionAccepted,
                  (("submission-accepted.v1", SubmissionAcceptedV1),)),
    EventContract(event_types.SCORE_COMPUTED, "score-computed.v2", ScoreComputed,
                  (("score-computed.v1", ScoreComputedV1),)),
    EventContract(event_types.CLUSTER_STANDINGS, "cluster-standings.v1", ClusterStandings),
    EventContract(event_types.RECOGNITION_PROPOSALS, "recognition-proposals.v1",
                  RecognitionProposals),
    EventContract(event_types.CLUSTER_LEADERSHIP, "cluster-leadership.v1", ClusterLeadership),
    EventContract(event_types.REGISTRY_UNIT, "unit-registered.v1", UnitRegistered),
    EventContract(event_types.REGISTRY_CLUSTER, "cluster-registered.v1", ClusterRegistered),
    EventContract(event_types.REGISTRY_CONFERENCE, "conference-recorded.v1",
                  ConferenceRecorded),
    EventContract(event_types.REGISTRY_DEADLINE, "deadline-set.v1", DeadlineSet),
    EventContract(event_types.DEAD_LETTER, "dead-letter.v1", DeadLetter),
    *(EventContract(event_types.notification(s), "notification.v2", Notification,
                    (("notification.v1", NotificationV1),))
      for s in event_types.NOTIFICATION_STATUSES),
)}
