"""Individuals (criterion group 5): pseudonymous ids, one person group of 5a/5b, scored on
that group's criterion alone, counted apart in the synthesis (docs/submissions.md,
"Individuals")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.common import individuals
from services.common.auth import OPERATOR, UNIT, Principal
from services.common.clock import Clock
from services.common.envelope import new_event
from services.common.errors import Refusal
from services.common.kafka import Rejected
from services.reporting.domain import national_report, report_csv_rows
from services.scoring.bootstrap import build_parts
from services.scoring.domain import criteria_answered, score_submission
from services.scoring.rubrics import load_rubrics
from services.scoring.service import ACCEPTED
from services.scoring.settings import ScoringSettings
from services.scoring.standings import ranks_in_clusters
from services.submissions.domain import SubmissionRefused
from tests.fakes.kafka import FakeProducer
from tests.fakes.mongo import FakeDatabase
from tests.unit.reporting_samples import AS_OF, PERIOD, accepted, report_doc, sample_state
from tests.unit.submissions_support import intake, intake_db, request

PERSON = "individual:province-quang-ninh-k7p2x9"
RUBRIC = load_rubrics().in_force("individual", 2026)


def person(*criteria: str, unit_id: str = PERSON) -> dict[str, Any]:
    body = request(unit_id)
    body["self_assessment"] = {c: {"rating": 8} for c in criteria}
    return body


@pytest.mark.parametrize(("criteria", "group"), [(("I1",), "5a"), (("I2",), "5b")])
def test_a_record_is_in_the_group_of_the_one_criterion_it_answers(
        criteria: tuple[str, ...], group: str) -> None:
    assert individuals.person_group({c: {"rating": 5} for c in criteria}) == group


@pytest.mark.parametrize("assessment", [{"I1": {"rating": 5}, "I2": {"rating": 5}}, {},
                                        None, {"P1": {"rating": 5}}])
def test_both_groups_or_neither_is_refused(assessment: Any) -> None:
    with pytest.raises(individuals.PersonRecordError) as e:
        individuals.person_group(assessment)
    assert e.value.field == "self_assessment"
    assert "exactly one group" in str(e.value)
    assert individuals.group_or_none(assessment) is None


def test_the_id_names_the_unit_that_reports_the_person_and_nothing_else() -> None:
    assert individuals.sponsor_of(PERSON) == "province:quang-ninh"
    assert individuals.sponsor_of("individual:organization-vietnam-news-agency-a1b2c3d4") \
        == "organization:vietnam-news-agency"
    for bad in ("individual:quang-ninh", "individual:police-phu-tho-k7p2x9",
                "individual:province-quang-ninh-k7", "province:quang-ninh"):
        assert individuals.sponsor_or_none(bad) is None, bad
        with pytest.raises(individuals.PersonRecordError):
            individuals.sponsor_of(bad)


def test_a_unit_reads_its_own_people_and_nobody_else() -> None:
    unit = Principal(kind=UNIT, unit_id="province:quang-ninh")
    assert unit.may_access(PERSON)
    assert not unit.may_access("individual:province-ha-noi-k7p2x9")
    assert not Principal(kind=UNIT, unit_id="province:ha-noi").may_access(PERSON)
    assert Principal(kind=OPERATOR, role="viewer").may_access(PERSON)


def test_the_rubric_scores_the_one_criterion_answered() -> None:
    assert RUBRIC is not None and RUBRIC.one_criterion and RUBRIC.max_total == 100
    for criterion, other in (("I1", "I2"), ("I2", "I1")):
        score = score_submission(RUBRIC, person(criterion), on_time=True)
        lines = {line.criterion for line in score.breakdown}
        assert criterion in lines and other not in lines
        assert next(ln for ln in score.breakdown if ln.criterion == criterion).max_points == 70
        assert 0 < score.total <= score.max == 100
    for wrong in (person("I1", "I2"), person()):
        with pytest.raises(ValueError, match="exactly one of I1, I2"):
            criteria_answered(RUBRIC, wrong["self_assessment"])


def test_individuals_rank_in_no_cluster() -> None:
    assert not ranks_in_clusters(PERSON)
    assert ranks_in_clusters("police:phu-tho")


def test_intake_accepts_a_person_of_a_registered_unit() -> None:
    body = asyncio.run(intake(intake_db()).validate(person("I2")))
    assert body["unit_id"] == PERSON


@pytest.mark.parametrize(("body", "code", "field"), [
    (person("I1", "I2"), "invalid-person-record", "self_assessment"),
    (person(), "invalid-person-record", "self_assessment"),
    (person("I1", unit_id="individual:quang-ninh-k7p2x9"), "invalid-person-record", "unit_id"),
    (person("I1", unit_id="individual:province-atlantis-k7p2x9"), "unknown-unit", "unit_id"),
])
def test_intake_refuses_a_bad_person_record_with_a_clear_422(
        body: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(SubmissionRefused) as e:
        asyncio.run(intake(intake_db()).validate(body))
    assert (e.value.kind, e.value.code) == (Refusal.INVALID, code)
    assert e.value.extra["errors"][0]["field"] == field


def test_the_synthesis_counts_people_by_group_and_unit_in_toan_dan_only() -> None:
    s = sample_state()
    reports = dict(s["reports"])
    for unit_id, criterion, on_time in ((PERSON, "I1", True),
                                        ("individual:province-ha-noi-zz9911", "I2", False),
                                        ("individual:province-ha-noi-aa1122", "I2", True)):
        data = accepted(unit_id, on_time=on_time)
        data["content"]["self_assessment"] = {criterion: {"rating": 7}}
        reports[unit_id] = report_doc(data)
    args = {"period": PERIOD, "as_of": AS_OF, "units": s["units"], "clusters": s["clusters"],
            "reports": reports, "scores": s["scores"], "reminders": s["reminders"]}
    toan_dan = national_report(**args, movement="toan-dan")
    assert toan_dan["individuals"] == {
        "submitted": 3, "on_time": 2, "scored": 0, "by_group": {"5a": 1, "5b": 2},
        "by_unit": {"province:ha-noi": 2, "province:quang-ninh": 1}}
    # Not registry units: the completeness of the units is untouched.
    assert PERSON not in toan_dan["missing"] and "individual" not in toan_dan["by_type"]
    before = national_report(**{**args, "reports": s["reports"]},
                             movement="toan-dan")
    assert (toan_dan["expected"], toan_dan["submitted"]) == (before["expected"],
                                                           before["submitted"])
    vi_an_ninh = national_report(**args, movement="vi-an-ninh")
    assert vi_an_ninh["individuals"]["submitted"] == 0
    rows = report_csv_rows(toan_dan)
    assert [r for r in rows if r[0] == "individuals"] == [
        ["individuals", "all", "", 3, 2, 1, "", ""], ["individuals", "5a", "", 1, "", "", "", ""],
        ["individuals", "5b", "", 2, "", "", "", ""]]
    assert not [r for r in report_csv_rows(vi_an_ninh) if r[0] == "individuals"]


def test_scoring_dead_letters_a_record_in_both_groups_or_neither() -> None:
    # The service's parts on an empty database: no operator's rubric, nothing scored.
    scorer = build_parts(ScoringSettings(), FakeDatabase(), FakeProducer(), Clock()).scorer
    for body in (person("I1", "I2"), person()):
        event = new_event(type=ACCEPTED, source="test", subject=PERSON, schema="submission-"
                          "accepted", version=2, data={
                              "unit_id": PERSON, "period": 2026, "unit_type": "individual",
                              "content": body, "revision": 1, "on_time": True})
        with pytest.raises(Rejected) as e:
            asyncio.run(scorer.on_submission(event))
        assert e.value.reason == "invalid-person-record"
