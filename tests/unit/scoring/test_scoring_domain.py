"""Scoring arithmetic: every line within its maximum, lines adding up to the total,
caps on bonus and deductions, and the worked example of docs/scoring.md.
(The two scoring tests of tests/unit/platform/test_domain_rules.py moved here.)"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from services.scoring.domain import (
    CONTENTS,
    Score,
    apportion,
    latest_revisions,
    score_submission,
)
from services.scoring.rubrics import load_rubrics

ROOT = Path(__file__).resolve().parents[3]
BOOK = load_rubrics()
EVIDENCE = [{"url": "https://a.example/x.pdf", "sha256": "0" * 64}]


def example() -> dict[str, Any]:
    path = ROOT / "schemas" / "examples" / "submission-request.json"
    return copy.deepcopy(json.loads(path.read_text(encoding="utf-8")))


def police(rating: int = 8) -> dict[str, Any]:
    body = example()
    body["unit_id"] = "police:phu-tho"
    body["self_assessment"] = {c: {"rating": rating} for c in ("P1", "P2", "P3", "P4")}
    return body


def rubric(version: str) -> Any:
    found = BOOK.get(version)
    assert found is not None
    return found


def assert_adds_up(score: Score) -> None:
    assert score.total == pytest.approx(sum(line.points for line in score.breakdown), abs=1e-9)
    for line in score.breakdown:
        if line.criterion.startswith("deduction:"):
            assert line.points <= 0
        elif line.criterion == "adjustment:floor":
            assert line.points > 0  # only ever lifts a negative sum to 0
        else:
            assert 0 <= line.points <= line.max_points + 1e-9, line
    assert 0 <= score.total <= score.max


def test_score_breakdown_adds_up_to_the_total() -> None:
    score = score_submission(rubric("police-2026.1"), police(), on_time=True)
    assert_adds_up(score)
    assert score.max == 100
    late = score_submission(rubric("police-2026.1"), police(), on_time=False)
    assert late.total == pytest.approx(score.total - 10, abs=0.01)
    assert_adds_up(late)


def test_higher_self_assessment_scores_higher() -> None:
    r = rubric("police-2026.1")
    assert score_submission(r, police(9), True).total > score_submission(r, police(5), True).total


@pytest.mark.parametrize("version", [r.version for r in BOOK.versions()])
def test_every_rubric_adds_up_for_every_kind_of_report(version: str) -> None:
    r = rubric(version)
    ids = [c.id for c in r.criteria]
    # Alternatives (individuals): each criterion answered alone.
    answers = [[c] for c in ids] if r.one_criterion else [ids]
    for rating, on_time, answered in itertools.product((0, 5, 10), (True, False), answers):
        body = example()
        body["self_assessment"] = {c: {"rating": rating} for c in answered}
        assert_adds_up(score_submission(r, body, on_time))
        body["contents"] = {"propaganda": {"summary": "x"}}
        body["flags_held"] = []
        assert_adds_up(score_submission(r, body, on_time))


def test_a_perfect_report_gets_the_maximum() -> None:
    r = rubric("police-2026.1")
    body = police(10)
    big = {"plans_issued": 9, "directives_implemented": 99, "grassroots_force_members": 9999,
           "steering_committees": 999, "models_replicated": 999, "safe_units_certified": 999,
           "digital_initiatives": 99, "propaganda_sessions": 9999, "people_reached": 9999999}
    body["contents"] = {n: {"summary": "x", "indicators": big, "evidence": EVIDENCE}
                        for n in CONTENTS}
    body["flags_held"] = ["government_emulation_flag", "mps_emulation_flag"]
    score = score_submission(r, body, on_time=True)
    assert score.total == 100
    bonus = next(line for line in score.breakdown if line.criterion == "bonus:flags")
    assert bonus.points == 5 and "capped at 5" in bonus.explanation


def test_indicator_thresholds_give_the_highest_share_reached() -> None:
    r = rubric("police-2026.1")
    body = police(0)
    body["contents"]["implement_directives"]["indicators"] = {"plans_issued": 2,
                                                              "directives_implemented": 4}
    p1 = score_submission(r, body, True).breakdown[0]
    # 35% x 75% for two plans, nothing below the first threshold of directives.
    assert p1.criterion == "P1" and p1.points == pytest.approx(20 * 0.35 * 0.75)
    assert "plans_issued = 2 (>= 2: 75%)" in p1.explanation
    assert "directives_implemented = 4 (below 5)" in p1.explanation


def test_deductions_are_capped_and_the_lines_show_it() -> None:
    r = rubric("police-2026.1")
    body = police(0)
    body["contents"] = {"propaganda": {"summary": "x"}}  # 5 missing, 1 without evidence
    score = score_submission(r, body, on_time=False)
    lines = {line.criterion: line for line in score.breakdown}
    assert lines["deduction:late"].points == -10
    assert lines["deduction:missing_content"].points == -5  # 10 wanted, 5 left under the cap
    assert "limited to 5 by the cap of 15" in lines["deduction:missing_content"].explanation
    assert lines["deduction:no_evidence"].points == 0
    assert sum(v.points for k, v in lines.items() if k.startswith("deduction:")) == -15
    # Nothing else earns enough to cover them: the total stops at zero, and a line says so.
    assert score.total == 0 and lines["adjustment:floor"].points > 0
    assert_adds_up(score)


def test_contents_points_are_split_by_weight_to_the_cent() -> None:
    assert apportion(25, [1, 1, 1, 1.5, 1.5, 1]) == [3.57, 3.57, 3.57, 5.36, 5.36, 3.57]
    assert sum(apportion(25, [1] * 6)) == pytest.approx(25)
    assert apportion(10, [0, 0]) == [0.0, 0.0]


def test_the_worked_example_of_the_documentation() -> None:
    """docs/scoring.md walks through these numbers; keep them in step."""
    score = score_submission(rubric("province-2026.1"), example(), on_time=True)
    lines = {line.criterion: line.points for line in score.breakdown}
    assert (lines["P1"], lines["P2"], lines["P3"], lines["P4"]) == (18.0, 12.9, 16.0, 11.1)
    assert lines["content:implement_directives"] == 3.57
    assert lines["content:science_technology"] == 3.22
    assert lines["bonus:flags"] == 2
    assert lines["deduction:no_evidence"] == -2.5
    assert score.total == 73.93 and score.rubric_version == "province-2026.1"
    assert BOOK.in_force("province", 2026) == rubric("province-2026.1")


def test_rubrics_differ_so_a_rescore_changes_the_numbers() -> None:
    old = score_submission(rubric("police-2024.1"), police(), True)
    new = score_submission(rubric("police-2026.1"), police(), True)
    assert old.total != new.total and old.rubric_version != new.rubric_version


def test_a_rescore_takes_each_units_latest_revision_and_first_arrival() -> None:
    found = latest_revisions([
        {"unit_id": "police:b", "revision": 1, "received_at": "2031-11-02T10:00:00+07:00"},
        {"unit_id": "police:a", "revision": 2, "received_at": "2031-11-05T00:00:00+00:00"},
        {"unit_id": "police:a", "revision": 1, "received_at": "2031-11-01T00:00:00+00:00"},
        {"unit_id": "police:a", "revision": 1, "received_at": "2031-11-01T00:00:00+00:00"},
    ])
    assert list(found) == ["police:a", "police:b"]
    assert found["police:a"].data["revision"] == 2
    assert found["police:a"].first_received_at == "2031-11-01T00:00:00+00:00"
    assert found["police:b"].first_received_at == "2031-11-02T03:00:00+00:00"
