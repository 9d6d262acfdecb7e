"""`make demo`'s individuals (criterion group 5): the records it submits are ones the
intake accepts and scoring scores under one person group each, from two units of
toan-dan, sent with the reporting unit's own token."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from devstack import demo
from services.common import individuals, movements
from services.scoring.domain import score_submission
from services.scoring.rubrics import load_rubrics
from tests.unit.submissions_support import REGISTRY, intake, intake_db

PERIOD = 2026  # the fake intake's clock is in November 2026


def bodies() -> list[dict[str, Any]]:
    units = [u.unit_id for u in REGISTRY.units(PERIOD)]
    return demo.person_bodies(units, PERIOD)


def test_the_demo_reports_people_of_both_groups_from_two_toan_dan_units() -> None:
    found = bodies()
    assert 3 <= len(found) <= 6
    sponsors = Counter(individuals.sponsor_of(b["unit_id"]) for b in found)
    assert len(sponsors) == 2
    assert {movements.movement_of(u) for u in sponsors} == {movements.TOAN_DAN}
    groups = Counter(individuals.person_group(b["self_assessment"]) for b in found)
    assert set(groups) == {"5a", "5b"}
    assert len({b["unit_id"] for b in found}) == len(found)  # one id per person


def test_the_intake_accepts_each_and_scoring_scores_it_in_its_group() -> None:
    rubric = load_rubrics().in_force("individual", PERIOD)
    assert rubric is not None
    for body in bodies():
        valid = asyncio.run(intake(intake_db()).validate(body))
        assert valid["unit_id"] == body["unit_id"]
        group = individuals.person_group(body["self_assessment"])
        score = score_submission(rubric, body, on_time=True)
        assert {ln.criterion for ln in score.breakdown} & {"I1", "I2"} == {
            individuals.GROUPS[group]}
        assert score.total > 0


def test_a_persons_record_goes_with_its_units_token(monkeypatch: pytest.MonkeyPatch) -> None:
    season = demo.Season.__new__(demo.Season)
    season.operator, season.tokens = "admin-token", {"province:quang-ninh": "qn-token"}
    season.accepted, season.people = set(), set()
    used: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        used.append(request.headers["Authorization"])
        return httpx.Response(202, json={})

    def client(service: str, token: str | None = None) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(handler), base_url="http://demo",
                            headers={"Authorization": f"Bearer {token}"})

    monkeypatch.setattr(season, "client", client)
    person = next(b for b in bodies() if b["unit_id"].startswith("individual:province-"))
    assert season.submit(person).status_code == 202
    assert used == ["Bearer qn-token"]
    assert season.people == {person["unit_id"]} and not season.accepted
