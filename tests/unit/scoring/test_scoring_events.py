"""The events scoring publishes: valid against their schemas, with ids that are a
function of their content (same content, same id; the time of computing does not count)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.common import schemas
from services.scoring.domain import score_submission
from services.scoring.leadership import RULE
from services.scoring.produced_events import (
    leadership_event,
    proposals_event,
    score_data,
    score_event,
    score_event_id,
    standings_event,
    wall_sequence,
)
from services.scoring.rubrics import load_rubrics
from services.scoring.standings import cluster_standings, rank_members, recognition_proposals

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2031, 11, 25, 3, 0, tzinfo=UTC)


def score_doc(unit: str, rating: int, revision: int = 1) -> dict[str, Any]:
    body = json.loads((ROOT / "schemas/examples/submission-request.json").read_text("utf-8"))
    body["unit_id"], body["period"] = unit, 2031
    body["self_assessment"] = {c: {"rating": rating} for c in ("P1", "P2", "P3", "P4")}
    rubric = load_rubrics().get("police-2026.1")
    assert rubric is not None
    s = score_submission(rubric, body, True)
    doc = {"unit_id": unit, "period": 2031, "unit_type": "police", "total": s.total,
           "max": s.max, "breakdown": s.breakdown_dicts(), "rubric_version": s.rubric_version,
           "submission_id": f"2031.{unit.replace(':', '.')}.r{revision}", "revision": revision,
           "on_time": True, "received_at": "2031-11-02T01:00:00+00:00",
           "first_received_at": "2031-11-02T01:00:00+00:00",
           "scored_at": NOW.isoformat()}
    doc["event_id"] = score_event_id(doc)
    return doc


def valid(event: Any, schema: str) -> None:
    assert schemas.errors(schema, event.to_dict()) == []


def test_score_events_are_valid_and_their_ids_follow_the_content() -> None:
    doc = score_doc("police:phu-tho", 9)
    event = score_event(doc)
    valid(event, "score-computed.v2")
    assert event.id.startswith("score:police:phu-tho:2031:r1:police-2026.1:")
    assert "event_id" not in event.data and "_id" not in score_data({**doc, "_id": "x"})
    assert score_event_id(copy.deepcopy(doc)) == doc["event_id"]
    rescored = {**doc, "scored_at": (NOW + timedelta(days=1)).isoformat()}
    assert score_event_id(rescored) != doc["event_id"]  # a rescore is news


def test_standings_and_proposals_events_are_valid_and_deterministic() -> None:
    scores = {u: score_doc(u, r) for u, r in (("police:phu-tho", 9), ("police:bac-ninh", 7))}
    members = ["police:phu-tho", "police:bac-ninh", "police:quang-ninh"]
    basis = [s["event_id"] for s in scores.values()]
    data = cluster_standings("mps-cluster-4", 2031, members, scores, NOW)
    first = standings_event(data, basis)
    valid(first, "cluster-standings.v1")
    assert first.subject == "mps-cluster-4"
    later = cluster_standings("mps-cluster-4", 2031, members, scores, NOW + timedelta(hours=1))
    assert standings_event(later, list(reversed(basis))).id == first.id
    # The sequence orders computations; it is not content either.
    sequenced = standings_event({**later, "sequence": wall_sequence()}, basis)
    valid(sequenced, "cluster-standings.v1")
    assert sequenced.id == first.id and sequenced.data["sequence"] > 1_700_000_000_000_000
    amended = {**scores, "police:bac-ninh": score_doc("police:bac-ninh", 10, revision=2)}
    moved = cluster_standings("mps-cluster-4", 2031, members, amended, NOW)
    assert standings_event(moved, [s["event_id"] for s in amended.values()]).id != first.id

    rows = {"mps-cluster-4": rank_members(members, scores)}
    proposals = recognition_proposals(2031, rows, scores, NOW)
    event = proposals_event(proposals, basis)
    valid(event, "recognition-proposals.v1")
    assert event.subject == "period:2031"
    assert proposals_event({**proposals, "computed_at": "2031-12-01T00:00:00+00:00"},
                           basis).id == event.id


def test_leadership_events_are_valid_and_a_repeated_decision_is_news() -> None:
    data = {"cluster_id": "mps-cluster-4", "period": 2032, "head": "police:bac-ninh",
            "deputy": "police:quang-ninh", "status": "suggested", "rule": RULE,
            "reason": "2031: ...", "decided_at": NOW.isoformat()}
    event = leadership_event(data, 0)
    valid(event, "cluster-leadership.v1")
    assert leadership_event({**data, "decided_at": "2031-12-01T00:00:00+00:00"}, 0).id \
        == event.id
    confirmed = {**data, "status": "confirmed", "reason": None}
    assert leadership_event(confirmed, 1).id != leadership_event(confirmed, 3).id


def test_the_schema_examples_have_the_shape_the_code_produces() -> None:
    for name in ("cluster-standings", "recognition-proposals", "cluster-leadership"):
        example = json.loads((ROOT / f"schemas/examples/{name}.json").read_text("utf-8"))
        assert schemas.errors(f"{name}.v1", example) == []
    scores = {"police:phu-tho": score_doc("police:phu-tho", 9)}
    produced = cluster_standings("mps-cluster-4", 2031, ["police:phu-tho", "police:x"],
                                 scores, NOW)
    example = json.loads((ROOT / "schemas/examples/cluster-standings.json").read_text("utf-8"))
    assert set(produced) == set(example["data"])
    assert set(produced["standings"][0]) == set(example["data"]["standings"][0])
