"""The services' pure rules: deadline, amendments, rates (scoring: test_scoring_*.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common import movements
from services.notifications.domain import campaign_deadline, deadline_status
from services.reporting.domain import national_report, report_csv_rows
from services.submissions import domain as sub


def test_deadline_is_30_november_end_of_day_in_hanoi() -> None:
    d = sub.deadline_for(2026)
    assert d.astimezone(UTC) == datetime(2026, 11, 30, 16, 59, 59, tzinfo=UTC)
    assert campaign_deadline(2026) == d


def test_each_movement_has_its_own_units_deadline() -> None:
    """vi-an-ninh's units report before the cluster conferences (27 November in seed 004):
    26 November 23:59:59 Hanoi; toan-dan's keep 30 November. Both labelled defaults."""
    police = sub.deadline_for(2026, movement="vi-an-ninh")
    people = sub.deadline_for(2026, movement="toan-dan")
    assert police.astimezone(UTC) == datetime(2026, 11, 26, 16, 59, 59, tzinfo=UTC)
    assert people == sub.deadline_for(2026)
    assert campaign_deadline(2026, movement="vi-an-ninh") == police
    between = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    assert not sub.is_on_time(between, police) and sub.is_on_time(between, people)
    for m in movements.MOVEMENTS.values():
        assert m.deadline_source.startswith("platform default, configurable")


def test_on_time_is_inclusive_of_the_last_second() -> None:
    d = sub.deadline_for(2026)
    assert sub.is_on_time(d, d)
    assert not sub.is_on_time(d + timedelta(seconds=1), d)


def test_amendment_rules_after_the_deadline() -> None:
    d = sub.deadline_for(2026)
    sub.check_amendment(now=d, deadline=d, unlock_until=None)
    with pytest.raises(sub.SubmissionRefused) as refused:
        sub.check_amendment(now=d + timedelta(hours=1), deadline=d, unlock_until=None)
    assert refused.value.code == "deadline-passed"
    sub.check_amendment(now=d + timedelta(hours=1), deadline=d,
                        unlock_until=d + timedelta(hours=2))
    with pytest.raises(sub.SubmissionRefused) as expired:
        sub.check_amendment(now=d + timedelta(hours=3), deadline=d,
                            unlock_until=d + timedelta(hours=2))
    assert expired.value.code == "unlock-expired"


def test_content_hash_ignores_key_order() -> None:
    assert sub.content_hash({"a": 1, "b": [1, 2]}) == sub.content_hash({"b": [1, 2], "a": 1})
    assert sub.content_hash({"a": 1}) != sub.content_hash({"a": 2})


def test_receipt_times_are_kept_to_milliseconds() -> None:
    t = datetime(2026, 11, 20, 1, 2, 3, 456789, tzinfo=UTC)
    assert sub.to_millis(t).microsecond == 456000


def test_deadline_status_counts_only_expected_units() -> None:
    st = deadline_status(2026, campaign_deadline(2026), ["a", "b", "c"],
                         {"a": True, "b": False, "zzz": True})
    assert (st.expected, st.submitted, st.on_time, st.late) == (3, 2, 1, 1)
    assert st.missing == ["c"]


def test_national_report_rates_and_breakdowns() -> None:
    units = [{"_id": "province:a", "type": "province"}, {"_id": "province:b", "type": "province"},
             {"_id": "police:a", "type": "police"}, {"_id": "police:b", "type": "police"}]
    clusters = {"mps-cluster-10": {"name": "10", "members": ["police:a"]},
                "mps-cluster-2": {"name": "2", "members": ["police:b"]}}
    reports = {"province:a": {"on_time": True}, "police:a": {"on_time": False}}
    rep = national_report(period=2026, as_of=datetime(2026, 11, 20, tzinfo=UTC), units=units,
                          clusters=clusters, reports=reports, scores={}, movement=None)
    assert (rep["expected"], rep["submitted"], rep["on_time"], rep["late"]) == (4, 2, 1, 1)
    assert rep["completeness"] == 0.5 and rep["timeliness"] == 0.25
    assert rep["by_type"]["police"]["late"] == 1
    assert list(rep["by_cluster"]) == ["mps-cluster-2", "mps-cluster-10"]
    assert rep["missing"] == ["province:b", "police:b"]
    rows = report_csv_rows(rep)
    assert rows[1][:4] == ["national", "2026", 4, 2]
