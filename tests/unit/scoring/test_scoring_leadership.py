"""The rotation rule that suggests a cluster's head and deputy. A suggestion only: the
cluster's conference elects them (seed 004: Cluster No. 4 elected Phu Tho head and Bac
Ninh deputy for 2025) and an operator records that (issue 14). No test here claims the
rule reproduces an election: the member order it rotates over is the registry's."""

from __future__ import annotations

import pytest

from services.scoring.leadership import (
    Pair,
    members_in,
    registry_known,
    rotate,
    suggest,
)
from tests.unit.scoring_support import CLUSTER_4


def test_the_registry_anchors_the_next_years() -> None:
    known = registry_known(CLUSTER_4)
    assert known[2025].pair == Pair("police:phu-tho", "police:bac-ninh")
    found = suggest(2026, {y: e for y, e in CLUSTER_4.items() if int(y) <= 2025}, known)
    assert found is not None and found.pair == Pair("police:bac-ninh", "police:quang-ninh")
    assert found.basis == "2025: head police:phu-tho, deputy police:bac-ninh (registry)"


def test_without_news_the_rotation_goes_round_the_members() -> None:
    known = registry_known(CLUSTER_4)
    last = max(known)
    heads = []
    for year in range(last + 1, last + 7):
        s = suggest(year, CLUSTER_4, known)
        assert s is not None
        heads.append(s.pair.head)
        assert s.pair.deputy != s.pair.head
    assert sorted(heads) == sorted(members_in(CLUSTER_4, last + 1) or [])  # each one turn
    assert "rotated 6 times" in (suggest(last + 6, CLUSTER_4, known) or pytest.fail()).basis


def test_a_recorded_conference_anchors_the_following_years() -> None:
    years = {**CLUSTER_4, "2032": {**CLUSTER_4["2025"], "head": "police:hung-yen",
                                   "deputy": "police:lang-son",
                                   "conference": {"date": "2031-11-27"}}}
    known = registry_known(years)
    assert known[2032].source == "conference"
    found = suggest(2033, years, known)
    assert found is not None and found.pair.head == "police:lang-son"
    assert "(conference)" in found.basis


@pytest.mark.parametrize("previous, members, expected", [
    (None, ["a", "b", "c"], Pair("a", "b")),
    (None, ["a"], Pair("a", None)),
    (Pair("a", "b"), ["a", "b", "c"], Pair("b", "c")),
    (Pair("c", "b"), ["a", "b", "c"], Pair("b", "a")),          # skips the outgoing head c
    (Pair("a", "gone"), ["a", "b", "c"], Pair("b", "c")),       # the deputy left: next after a
    (Pair("gone", "also-gone"), ["x", "y"], Pair("x", "y")),    # a new cluster: the first two
    (Pair("a", "b"), ["a", "b"], Pair("b", "a")),               # two members take turns
    (Pair("a", None), ["a", "b", "c"], Pair("b", "c")),
    (Pair("a", "b"), [], None),
])
def test_rotation_cases(previous: Pair | None, members: list[str], expected: Pair | None
                        ) -> None:
    assert rotate(previous, members) == expected


def test_no_suggestion_before_a_cluster_exists() -> None:
    assert suggest(2020, CLUSTER_4, registry_known(CLUSTER_4)) is None
    assert members_in(CLUSTER_4, 2031) == members_in(CLUSTER_4, 2025)  # inherited
