"""The events the scoring service publishes on emulation.scores.v1, with ids that are a
function of their content: the same content published again is a duplicate consumers
can drop (docs/scoring.md, "Events")."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from typing import Any

from services.common import event_types, movements
from services.common.contracts import ClusterLeadership, ClusterStandings, RecognitionProposals
from services.common.envelope import Event, new_event
from services.scoring.models import ScoreRecord

SOURCE = "urn:emulation:service:scoring"
SCORE_COMPUTED = event_types.SCORE_COMPUTED
STANDINGS = event_types.CLUSTER_STANDINGS
PROPOSALS = event_types.RECOGNITION_PROPOSALS
LEADERSHIP = event_types.CLUSTER_LEADERSHIP
# Fields that say when something was computed, not what: left out of content hashes.
_TIMES = ("computed_at", "decided_at", "sequence")


def wall_sequence() -> int:
    """The `sequence` of a derived event: wall-clock microseconds taken before its
    inputs are read, so the later computation (which saw more) orders after the
    earlier one even when the business clock was set back (tests, the demo, an
    operator). Consumers keep the event with the highest sequence per stream."""
    return time.time_ns() // 1000


def digest(data: Any, *extra: Any) -> str:
    """Short hash of canonical JSON (times excluded at the top level)."""
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in _TIMES}
    text = json.dumps([data, *extra], sort_keys=True, separators=(",", ":"), default=str,
                      ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def score_data(doc: ScoreRecord) -> dict[str, Any]:
    """The event data of a stored score, as JSON (the store's own fields left out; a
    score kept from before movements existed carries none: score_event adds it)."""
    hidden = ("_id", "unit_type", "event_id", "seq")
    return {k: v for k, v in doc.items() if k not in hidden}


def score_event_id(doc: ScoreRecord) -> str:
    # The score's time is part of its content: a rescore is a new event even when it
    # gives back numbers seen before, while a redelivery republishes the stored score.
    return (f"score:{doc['unit_id']}:{doc['period']}:r{doc['revision']}:"
            f"{doc['rubric_version']}:{digest(score_data(doc))[:12]}")


def score_event(doc: ScoreRecord) -> Event:
    # A score kept from before movements existed carries none: its unit type's.
    data = {**score_data(doc), "movement": movements.of_event(doc, doc["unit_id"])}
    return new_event(type=SCORE_COMPUTED, source=SOURCE, subject=doc["unit_id"],
                     schema="score-computed", version=2, data=data, id=doc["event_id"])


def standings_event(data: ClusterStandings, basis: Iterable[str]) -> Event:
    """`basis`: the ids of the score events the standings were built from, so going back
    to earlier numbers after a rescore is news, not a duplicate."""
    h = digest(data, sorted(basis))
    return new_event(type=STANDINGS, source=SOURCE, subject=data["cluster_id"],
                     schema="cluster-standings", data=data,
                     id=f"standings:{data['cluster_id']}:{data['period']}:{h}")


def proposals_event(data: RecognitionProposals, basis: Iterable[str]) -> Event:
    h = digest(data, sorted(basis))
    return new_event(type=PROPOSALS, source=SOURCE, subject=f"period:{data['period']}",
                     schema="recognition-proposals", data=data,
                     id=f"proposals:{data['period']}:{h}")


def leadership_event(data: ClusterLeadership, decisions: int) -> Event:
    """`decisions`: how many operator decisions the register holds for that year, so a
    decision that repeats an earlier one after a change of mind is news again."""
    h = digest(data)
    return new_event(type=LEADERSHIP, source=SOURCE, subject=data["cluster_id"],
                     schema="cluster-leadership", data=data,
                     id=(f"leadership:{data['cluster_id']}:{data['period']}:"
                         f"{data['status']}:{decisions}:{h}"))
