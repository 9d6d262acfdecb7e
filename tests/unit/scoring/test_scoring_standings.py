"""Standings and proposals as pure rules: the documented tie-breaks, every member listed,
and the 20% cap on Government flag proposals on a generated year with many clusters."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.scoring.standings import (
    CERTIFICATE,
    CERTIFICATE_MIN_RATIO,
    GOVERNMENT_FLAG,
    MPS_FLAG,
    cluster_standings,
    government_flag_cap,
    rank_members,
    recognition_proposals,
)

NOW = datetime(2031, 11, 25, 3, 0, tzinfo=UTC)
BASE = datetime(2031, 11, 1, tzinfo=UTC)


def score(total: float, *, on_time: bool = True, day: int = 1, mx: float = 100,
          version: str = "police-2026.1") -> dict[str, Any]:
    first = (BASE + timedelta(days=day)).isoformat()
    return {"total": total, "max": mx, "on_time": on_time, "first_received_at": first,
            "received_at": first, "revision": 1, "rubric_version": version,
            "event_id": f"e-{total}-{day}", "breakdown": [
                {"criterion": "P1", "points": total, "max_points": mx, "explanation": "x"}]}


def test_every_member_is_listed_submitted_or_not() -> None:
    members = ["police:f", "police:a", "police:e", "police:b", "police:d", "police:c"]
    scores = {"police:e": score(70), "police:b": score(90)}
    rows = rank_members(members, scores)
    assert [r["unit_id"] for r in rows] == ["police:b", "police:e", "police:a", "police:c",
                                           "police:d", "police:f"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["submitted"] for r in rows] == [True, True, False, False, False, False]
    assert rows[2] == {"unit_id": "police:a", "rank": 3, "score": None, "max": None,
                       "submitted": False, "on_time": None, "revision": None, "breakdown": []}
    assert rows[0]["breakdown"][0]["criterion"] == "P1"


def test_tie_breaks_in_their_documented_order() -> None:
    scores = {
        "police:late": score(80, on_time=False, day=0),
        "police:second-day": score(80, day=2),
        "police:first-day-b": score(80, day=1),
        "police:first-day-a": score(80, day=1),
        "police:best-late": score(99, on_time=False, day=9),
        "police:best": score(80.01, day=3),
    }
    rows = rank_members([*scores, "police:absent"], scores)
    assert [r["unit_id"] for r in rows] == [
        "police:best",          # higher total wins
        "police:first-day-a",   # equal totals: earlier first submission, then unit id
        "police:first-day-b",
        "police:second-day",
        "police:best-late",     # late reports are not ranked, whatever their total
        "police:late",
        "police:absent",
    ]


def test_a_report_after_the_deadline_is_listed_late_without_a_score() -> None:
    """A cluster conference ranks the season as of the movement's deadline: a late
    report is listed (submitted, late) but carries no score and ranks after the others."""
    scores = {"police:a": score(50), "police:b": score(95, on_time=False)}
    rows = rank_members(["police:a", "police:b", "police:c"], scores)
    assert rows[0]["unit_id"] == "police:a" and rows[0]["score"] == 50
    assert rows[1] == {"unit_id": "police:b", "rank": 2, "score": None, "max": None,
                       "submitted": True, "on_time": False, "revision": 1,
                       "breakdown": []}
    assert rows[2]["submitted"] is False


def test_the_order_does_not_depend_on_the_input_order() -> None:
    rng = random.Random(4)
    members = [f"police:u{i}" for i in range(30)]
    scores = {m: score(rng.choice([70, 80, 90]), on_time=rng.random() < 0.7,
                       day=rng.randrange(3)) for m in members[:20]}
    expected = rank_members(members, scores)
    for _ in range(5):
        shuffled = members[:]
        rng.shuffle(shuffled)
        assert rank_members(shuffled, dict(reversed(list(scores.items())))) == expected


def test_standings_carry_the_rule_and_the_rubric_version() -> None:
    data = cluster_standings("mps-cluster-4", 2031, ["police:a", "police:b"],
                             {"police:a": score(80)}, NOW)
    assert data["rubric_version"] == "police-2026.1"
    assert data["tie_break"].startswith("reports on time only")
    assert data["computed_at"] == "2031-11-25T03:00:00+00:00"
    assert cluster_standings("mps-cluster-4", 2031, ["police:a"], {}, NOW)[
        "rubric_version"] is None
    mixed = {"police:a": score(80), "police:b": score(70, version="police-2024.1")}
    assert cluster_standings("mps-cluster-4", 2031, ["police:a", "police:b"], mixed, NOW)[
        "rubric_version"] == "police-2024.1, police-2026.1"


@pytest.mark.parametrize("leaders, cap", [(0, 0), (1, 0), (4, 0), (5, 1), (6, 1), (9, 1),
                                          (10, 2), (34, 6), (63, 12), (100, 20)])
def test_the_government_flag_cap_is_20_percent_rounded_down(leaders: int, cap: int) -> None:
    assert government_flag_cap(leaders) == cap


def generated_year(seed: int, clusters: int) -> tuple[dict[str, list[dict[str, Any]]],
                                                      dict[str, Any]]:
    """Many clusters of 3-9 police units, most but not all of whom reported, some late,
    plus ministries and provinces outside any cluster."""
    rng = random.Random(seed)
    standings, scores = {}, {}
    for c in range(1, clusters + 1):
        members = [f"police:c{c}-m{m}" for m in range(rng.randint(3, 9))]
        for m in members:
            if rng.random() < 0.8:
                scores[m] = score(round(rng.uniform(40, 100), 2), on_time=rng.random() < 0.85,
                                  day=rng.randrange(25))
        standings[f"mps-cluster-{c}"] = rank_members(members, scores)
    for n in range(20):
        scores[f"ministry:m{n}"] = score(round(rng.uniform(50, 100), 1), mx=100,
                                         version="ministry-2024.1", day=rng.randrange(25),
                                         on_time=rng.random() < 0.9)
    return standings, scores


@pytest.mark.parametrize("seed", range(8))
def test_the_20_percent_rule_holds_on_a_generated_year_with_many_clusters(seed: int) -> None:
    clusters = 40 + 7 * seed
    standings, scores = generated_year(seed, clusters)
    data = recognition_proposals(2031, standings, scores, NOW)
    led = {cid: rows[0]["unit_id"] for cid, rows in standings.items() if rows[0]["submitted"]}
    assert data["cluster_leaders"] == len(led) > 30
    assert data["government_flag_cap"] == len(led) * 20 // 100
    by_award: dict[str, list[dict[str, Any]]] = {}
    for p in data["proposals"]:
        by_award.setdefault(p["award"], []).append(p)
    flags = by_award.get(GOVERNMENT_FLAG, [])
    # The rule: Government flags at most 20% of the units that led their clusters...
    assert len(flags) <= 0.2 * data["cluster_leaders"]
    assert len(flags) == data["government_flag_cap"]  # (here enough leaders were on time)
    # ...and only for leaders, on time, the best of them by share of their maximum.
    leaders = set(led.values())
    assert {p["unit_id"] for p in flags} <= leaders
    assert all(scores[p["unit_id"]]["on_time"] for p in flags)
    best_other = max(scores[p["unit_id"]]["total"] for p in by_award[MPS_FLAG]
                     if scores[p["unit_id"]]["on_time"])
    assert all(scores[p["unit_id"]]["total"] >= best_other for p in flags)
    # Every leader is proposed exactly once, with a flag; nobody is proposed twice.
    flagged = [p["unit_id"] for p in data["proposals"] if p["award"] != CERTIFICATE]
    assert sorted(flagged) == sorted(leaders)
    ids = [p["unit_id"] for p in data["proposals"]]
    assert len(ids) == len(set(ids))
    for p in by_award.get(CERTIFICATE, []):
        s = scores[p["unit_id"]]
        assert s["on_time"] and s["total"] / s["max"] >= CERTIFICATE_MIN_RATIO
        assert p["unit_id"] not in leaders
    assert all(p["reason"] for p in data["proposals"])
    assert {p["cluster_id"] for p in by_award[CERTIFICATE] if p["unit_id"].startswith(
        "ministry:")} == {None}


def test_late_reports_lead_no_cluster_and_get_no_flag() -> None:
    standings, scores = {}, {}
    for c in range(1, 11):  # ten clusters; in two the best report was late
        unit = f"police:lead-{c}"
        scores[unit] = score(99 - c, on_time=c > 2)
        scores[f"police:other-{c}"] = score(60)
        standings[f"mps-cluster-{c}"] = rank_members([unit, f"police:other-{c}"], scores)
    data = recognition_proposals(2031, standings, scores, NOW)
    assert data["cluster_leaders"] == 10 and data["government_flag_cap"] == 2
    flags = [p["unit_id"] for p in data["proposals"] if p["award"] == GOVERNMENT_FLAG]
    assert flags == ["police:lead-3", "police:lead-4"]
    proposed = {p["unit_id"]: p["award"] for p in data["proposals"]}
    # The late units led nothing: the on-time member of their cluster did.
    assert "police:lead-1" not in proposed and proposed["police:other-1"] == MPS_FLAG


def test_a_cluster_nobody_reported_in_has_no_leader() -> None:
    standings = {"mps-cluster-1": rank_members(["police:a", "police:b"], {})}
    data = recognition_proposals(2031, standings, {}, NOW)
    assert data["cluster_leaders"] == 0 and data["proposals"] == []
