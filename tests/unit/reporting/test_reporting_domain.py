"""The reports as pure functions: national synthesis, cluster report, dashboard series."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.common.movements import default_deadline
from services.reporting import projections
from services.reporting.cluster_report import cluster_csv_rows, cluster_report, derived_standings
from services.reporting.dashboard import daily_series, dashboard_view
from services.reporting.domain import national_report, score_distribution
from services.reporting.membership import clusters_for_period
from tests.unit.reporting_samples import (
    AS_OF,
    CLUSTERS,
    PERIOD,
    UNITS,
    sample_state,
    score,
)


def national(**extra: Any) -> dict:
    s = sample_state()
    options: dict[str, Any] = {"movement": None, **extra}
    return national_report(period=PERIOD, as_of=AS_OF, units=s["units"], clusters=s["clusters"],
                           reports=s["reports"], scores=s["scores"], reminders=s["reminders"],
                           **options)


def test_national_counts_rates_and_breakdowns() -> None:
    rep = national()
    assert (rep["expected"], rep["submitted"], rep["on_time"], rep["late"]) == (5, 3, 2, 1)
    assert rep["completeness"] == 0.6 and rep["timeliness"] == 0.4
    assert rep["by_type"]["police"] == {"expected": 3, "submitted": 2, "on_time": 1, "late": 1,
                                        "completeness": 0.6667, "timeliness": 0.3333}
    assert rep["by_cluster"]["mps-cluster-4"]["name"] == "Cụm thi đua số 4"
    assert rep["by_cluster"]["mps-cluster-4"]["submitted"] == 2
    assert rep["missing"] == ["ministry:public-security", "police:quang-ninh"]
    assert rep["deadline"] == "2026-11-30T16:59:59+00:00"  # as the submissions carried it


def test_national_states_the_time_it_reflects() -> None:
    last = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    rep = national(last_event_at=last)
    assert rep["as_of"] == AS_OF.isoformat()
    assert rep["last_event_at"] == last.isoformat()
    assert AS_OF.isoformat() in rep["statement"] and last.isoformat() in rep["statement"]


def test_what_was_done_sums_indicators_and_picks_the_best_scored_examples() -> None:
    mq = national()["contents"]["movement_quality"]
    assert mq["units_reported"] == 3
    assert mq["indicators"] == {"models_replicated": 52}  # 10 + 10 + 32
    assert [e["unit_id"] for e in mq["examples"]] == [
        "province:ha-noi", "police:phu-tho", "police:bac-ninh"]  # by score: 95, 88.5, 71
    assert mq["examples"][0]["name"] == "Thành phố Hà Nội"
    prop = national()["contents"]["propaganda"]
    assert prop["indicators"] == {"propaganda_sessions": 11}  # 5.5 + 5.5, shown whole
    assert national()["contents"]["security_forces"] == {
        "title": national()["contents"]["security_forces"]["title"],
        "title_en": national()["contents"]["security_forces"]["title_en"],
        "units_reported": 0, "indicators": {}, "examples": []}


def test_score_distribution_statistics_and_histogram() -> None:
    s = national()["scores"]
    assert (s["count"], s["min"], s["max"], s["median"]) == (3, 71.0, 95.0, 88.5)
    assert s["mean"] == round((71 + 88.5 + 95) / 3, 2)
    assert [b["count"] for b in s["histogram"]] == [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
    full = score_distribution([(100.0, 100.0), (0.0, 100.0)])
    assert full["histogram"][9]["count"] == 1 and full["histogram"][0]["count"] == 1
    assert score_distribution([])["mean"] is None


def test_missing_units_carry_their_reminders_in_order() -> None:
    missing = {m["unit_id"]: m for m in national()["missing_units"]}
    assert missing["ministry:public-security"]["reminders"] == []
    qn = missing["police:quang-ninh"]
    assert qn["name"] == "Công an tỉnh Quảng Ninh" and qn["cluster_id"] == "mps-cluster-4"
    assert [r["channel"] for r in qn["reminders"]] == ["email", "sms"]
    assert qn["reminders"][0]["sent_at"] == "2026-11-23T01:00:04+00:00"
    assert national()["reminders_sent"] == 2


def test_proposals_are_named_and_labelled() -> None:
    doc = projections.proposals_doc({
        "period": PERIOD, "computed_at": "2026-11-25T00:00:00Z", "cluster_leaders": 1,
        "government_flag_cap": 1, "proposals": [
            {"unit_id": "police:phu-tho", "cluster_id": "mps-cluster-4",
             "award": "government_emulation_flag", "reason": "led the cluster"}]})
    rep = national(proposals=doc)
    item = rep["proposals"]["items"][0]
    assert item["name"] == "Công an tỉnh Phú Thọ"
    assert item["award_label"] == "Cờ thi đua của Chính phủ"
    assert national()["proposals"] is None


def test_every_unit_has_a_row_with_its_first_receipt_and_score() -> None:
    rows = {r["unit_id"]: r for r in national()["units"]}
    assert rows["police:bac-ninh"]["on_time"] is False
    assert rows["police:bac-ninh"]["first_received_at"] == "2026-12-02T03:00:00+00:00"
    assert rows["police:phu-tho"]["score"] == 88.5
    assert rows["ministry:public-security"]["submitted"] is False


def test_derived_standings_rank_equal_scores_together() -> None:
    reports = {u: {"on_time": True, "revision": 1} for u in ("a", "b", "c")}
    scores = {"a": score("a", 80), "b": score("b", 90), "c": score("c", 80)}
    rows = derived_standings(["a", "b", "c", "d"], reports, scores)
    assert [(r["unit_id"], r["rank"]) for r in rows] == [("b", 1), ("a", 2), ("c", 2),
                                                         ("d", None)]
    assert rows[-1]["submitted"] is False


def cluster(**overrides: object) -> dict:
    s = sample_state()
    args = dict(cluster_id="mps-cluster-4", period=PERIOD, as_of=AS_OF,
                cluster=CLUSTERS["mps-cluster-4"], registry_years={}, units=UNITS,
                reports=s["reports"], scores=s["scores"], reminders=s["reminders"],
                standings=None, proposals=None, leadership=None)
    args.update(overrides)
    return cluster_report(**args)


def test_cluster_report_without_scoring_events_derives_standings() -> None:
    rep = cluster()
    assert rep["standings_source"] == "derived"
    assert [(r["unit_id"], r["rank"]) for r in rep["standings"]] == [
        ("police:phu-tho", 1), ("police:bac-ninh", 2), ("police:quang-ninh", None)]
    assert rep["standings"][0]["name"] == "Công an tỉnh Phú Thọ"
    assert rep["standings"][0]["breakdown"][0]["criterion"] == "P1"
    assert (rep["expected"], rep["submitted"], rep["late"]) == (3, 2, 1)
    assert rep["missing"] == ["police:quang-ninh"]
    assert rep["head"] == {"unit_id": "police:phu-tho", "name": "Công an tỉnh Phú Thọ"}
    assert rep["next_year_leadership"] is None
    assert rep["proposals"] == []
    assert cluster_csv_rows(rep)[1][:4] == [1, "police:phu-tho", "Công an tỉnh Phú Thọ", 88.5]


def test_a_cluster_report_before_any_report_states_its_movements_deadline() -> None:
    """An MPS cluster belongs to `vi-an-ninh`: with no report yet its deadline is that
    movement's default (26 November), not `toan-dan`'s 30 November."""
    rep = cluster(reports={}, scores={}, reminders={})
    assert rep["deadline"] == f"{PERIOD}-11-26T23:59:59+07:00"
    assert rep["deadline"] == default_deadline(PERIOD, "vi-an-ninh").isoformat()


def test_cluster_report_uses_the_scoring_services_events() -> None:
    standings = projections.standings_doc({
        "cluster_id": "mps-cluster-4", "period": PERIOD, "rubric_version": "police-1",
        "computed_at": "2026-11-25T00:00:00Z", "tie_break": "on time first",
        "standings": [
            {"unit_id": "police:bac-ninh", "rank": 2, "score": 70, "max": 100,
             "submitted": True, "on_time": False, "revision": 1, "breakdown": []},
            {"unit_id": "police:quang-ninh", "rank": 3, "score": None, "max": None,
             "submitted": False, "on_time": None, "revision": None, "breakdown": []},
            {"unit_id": "police:phu-tho", "rank": 1, "score": 90, "max": 100,
             "submitted": True, "on_time": True, "revision": 2, "breakdown": []}]})
    proposals = projections.proposals_doc({
        "period": PERIOD, "computed_at": "2026-11-25T00:00:00Z", "proposals": [
            {"unit_id": "police:phu-tho", "cluster_id": "mps-cluster-4",
             "award": "mps_emulation_flag", "reason": "led"},
            {"unit_id": "police:ha-noi", "cluster_id": "mps-cluster-1",
             "award": "mps_emulation_flag", "reason": "led"}]})
    leadership = projections.leadership_doc({
        "cluster_id": "mps-cluster-4", "period": PERIOD + 1, "head": "police:bac-ninh",
        "deputy": "police:quang-ninh", "status": "suggested", "rule": "rotation",
        "reason": "the deputy becomes head", "decided_at": "2026-11-25T00:00:00Z"})
    rep = cluster(standings=standings, proposals=proposals, leadership=leadership)
    assert rep["standings_source"] == "scoring"
    assert [r["unit_id"] for r in rep["standings"]] == [
        "police:phu-tho", "police:bac-ninh", "police:quang-ninh"]
    assert rep["tie_break"] == "on time first" and rep["rubric_version"] == "police-1"
    assert [p["unit_id"] for p in rep["proposals"]] == ["police:phu-tho"]
    lead = rep["next_year_leadership"]
    assert lead["period"] == PERIOD + 1 and lead["source"] == "scoring"
    assert lead["head"] == {"unit_id": "police:bac-ninh", "name": "Công an tỉnh Bắc Ninh"}
    assert lead["deputy"]["name"] == "Công an tỉnh Quảng Ninh"
    assert lead["status_label"] == "đề xuất"


def test_next_years_leadership_falls_back_to_the_registry() -> None:
    years = {str(PERIOD + 1): {"members": [], "head": "police:quang-ninh", "deputy": None}}
    lead = cluster(registry_years=years)["next_year_leadership"]
    assert lead["source"] == "registry" and lead["head"]["name"] == "Công an tỉnh Quảng Ninh"
    assert lead["deputy"] is None


def test_daily_series_is_cumulative_by_hanoi_day_up_to_today() -> None:
    s = sample_state()
    expected = [u["_id"] for u in UNITS]
    series = daily_series(expected=expected, reports=s["reports"],
                          deadline=default_deadline(PERIOD), as_of=AS_OF)
    by_day = {p["date"]: p for p in series}
    assert series[0]["date"] == "2026-11-01"  # at least the month before the deadline
    assert series[-1]["date"] == "2026-11-25"  # today in Hanoi, not beyond
    assert by_day["2026-11-17"]["submitted"] == 0
    assert by_day["2026-11-18"]["submitted"] == 1  # Ha Noi, 10:00 Hanoi time
    assert by_day["2026-11-20"] == {"date": "2026-11-20", "submitted": 2, "on_time": 2,
                                    "completeness": 0.4, "timeliness": 0.4}
    after = daily_series(expected=expected, reports=s["reports"],
                         deadline=default_deadline(PERIOD),
                         as_of=datetime(2027, 6, 1, tzinfo=UTC))
    assert after[-1]["date"] == "2026-12-02"  # the last (late) receipt ends the campaign
    assert after[-1]["submitted"] == 3 and after[-1]["on_time"] == 2


def test_a_receipt_late_in_the_evening_counts_on_that_hanoi_day() -> None:
    s = sample_state()
    rep = {"x": {**s["reports"]["police:phu-tho"],
                 "first_received_at": datetime(2026, 11, 20, 17, 30, tzinfo=UTC)}}
    series = daily_series(expected=["x"], reports=rep, deadline=default_deadline(PERIOD),
                          as_of=AS_OF)
    by_day = {p["date"]: p["submitted"] for p in series}
    assert by_day["2026-11-20"] == 0 and by_day["2026-11-21"] == 1  # 00:30 in Hanoi


def test_dashboard_shows_the_national_reports_figures() -> None:
    rep = national()
    view = dashboard_view(rep, [], 3.0)
    for key in ("completeness", "timeliness", "expected", "submitted", "as_of", "by_cluster"):
        assert view[key] == rep[key]
    assert view["missing_units"][1]["reminders"] == 2
    assert view["missing_units"][1]["last_reminder"]["channel"] == "sms"
    assert view["reports"]["national"]["pdf"] == "/v1/reports/national?period=2026&format=pdf"
    assert view["reports"]["clusters"][0]["links"]["html"] == (
        "/v1/reports/clusters/mps-cluster-4?period=2026&format=html")


def test_clusters_of_a_period_follow_the_units_not_a_dissolved_clusters_old_entry() -> None:
    units = [  # as the registry publishes them; Bac Giang merged away in 2025
        {"_id": "police:bac-ninh", "clusters": {"2024": "mps-cluster-4", "2025": "mps-cluster-4",
                                                "2026": "mps-cluster-4"}},
        {"_id": "police:dong-nai", "clusters": {"2024": "mps-cluster-10",
                                                "2025": "mps-cluster-7", "2026": "mps-cluster-7"}},
        {"_id": "police:phu-tho", "clusters": {"2024": "mps-cluster-4", "2025": "mps-cluster-4",
                                               "2026": "mps-cluster-4"}},
    ]
    raw = [
        {"_id": "mps-cluster-4", "name": "Cụm thi đua số 4", "years": {
            "2024": {"members": ["police:bac-giang", "police:phu-tho", "police:bac-ninh"]},
            "2025": {"members": ["police:phu-tho", "police:bac-ninh"],
                     "head": "police:phu-tho", "deputy": "police:bac-ninh"}}},
        {"_id": "mps-cluster-7", "name": "Cụm thi đua số 7", "years": {
            "2025": {"members": ["police:dong-nai"]}}},
        # Dissolved in 2025: the published years stop at 2024.
        {"_id": "mps-cluster-10", "name": "Cụm thi đua số 10", "years": {
            "2024": {"members": ["police:dong-nai", "police:binh-duong"]}}},
    ]
    later = clusters_for_period(2050, units, raw)
    assert sorted(later) == ["mps-cluster-4", "mps-cluster-7"]
    assert later["mps-cluster-4"] == {"name": "Cụm thi đua số 4",
                                      "members": ["police:phu-tho", "police:bac-ninh"],
                                      "head": None, "deputy": None}  # elected for 2025 only
    assert clusters_for_period(2025, units, raw)["mps-cluster-4"]["head"] == "police:phu-tho"
    assert clusters_for_period(2024, units, raw)["mps-cluster-10"]["members"] == [
        "police:dong-nai"]
    assert clusters_for_period(2020, units, raw) == {}
    # A registry copy without the units' maps falls back to the clusters' entries.
    bare = [{"_id": u["_id"]} for u in units]
    assert sorted(clusters_for_period(2050, bare, raw)) == [
        "mps-cluster-10", "mps-cluster-4", "mps-cluster-7"]


def test_unknown_and_escalated_reminders_are_counted_for_the_dashboard() -> None:
    """The dashboard counts reminders whose outcome is unknown and those escalated to the
    other channel (issue 16), from the notifications events as they come: an unknown
    outcome resolved at the same instant (escalated, or sent after the relay's log) wins."""
    s = sample_state()
    when = "2026-11-27T02:00:00+00:00"
    data = {"unit_id": "police:quang-ninh", "period": PERIOD, "stage": "d-3",
            "channel": "email", "recipient": "cat@quangninh.example"}
    unknown = projections.reminder_doc("vn.emulation.notification.unknown", when,
                                       {**data, "status": "unknown"})
    escalated = projections.reminder_doc("vn.emulation.notification.escalated", when,
                                         {**data, "status": "escalated"})
    assert escalated["_id"] == unknown["_id"] and escalated["order"] > unknown["order"]
    other = projections.reminder_doc("vn.emulation.notification.unknown", when,
                                     {**data, "stage": "d-1", "status": "unknown"})
    reminders = {u: list(docs) for u, docs in s["reminders"].items()}
    reminders.setdefault("police:quang-ninh", []).extend([escalated, other])
    rep = national_report(period=PERIOD, as_of=AS_OF, units=s["units"], clusters=s["clusters"],
                          reports=s["reports"], scores=s["scores"], reminders=reminders)
    assert rep["reminders_unknown"] == 1 and rep["reminders_escalated"] == 1
    assert rep["reminder_statuses"]["escalated"] == 1
    assert sum(rep["reminder_statuses"].values()) == sum(len(d) for d in reminders.values())
    view = dashboard_view(rep, [], 3.0)
    assert (view["reminders_unknown"], view["reminders_escalated"]) == (1, 1)
    assert national()["reminders_unknown"] == national()["reminders_escalated"] == 0


def test_the_synthesis_for_the_prime_minister_counts_each_province_once() -> None:
    """Issue 14: a province's People's Committee is in toan-dan, its police in vi-an-ninh
    only; the clusters and their proposals are vi-an-ninh's."""
    s = sample_state()
    units = [*s["units"], {"_id": "province:phu-tho", "type": "province", "name": "Phú Thọ"}]
    reports = {**s["reports"], "province:phu-tho": {**s["reports"]["province:ha-noi"]}}
    proposals = projections.proposals_doc({
        "period": PERIOD, "computed_at": "2026-11-25T00:00:00Z", "cluster_leaders": 1,
        "government_flag_cap": 1, "proposals": [
            {"unit_id": "police:phu-tho", "cluster_id": "mps-cluster-4",
             "award": "government_emulation_flag", "reason": "dẫn đầu Cụm thi đua số 4"},
            {"unit_id": "province:ha-noi", "cluster_id": None,
             "award": "certificate_of_merit", "reason": "x"}]})
    common = {"period": PERIOD, "as_of": AS_OF, "units": units, "clusters": s["clusters"],
              "reports": reports, "scores": s["scores"], "reminders": s["reminders"],
              "proposals": proposals}
    pm = national_report(**common)
    ids = [r["unit_id"] for r in pm["units"]]
    assert pm["movement"] == "toan-dan" and "Toàn dân" in pm["movement_name"]
    assert ids.count("province:phu-tho") == 1 and not [u for u in ids if u.startswith("police:")]
    assert set(pm["by_type"]) == {"ministry", "province"} and pm["by_cluster"] == {}
    assert pm["expected"] == 3 and pm["submitted"] == 2
    assert [p["unit_id"] for p in pm["proposals"]["items"]] == ["province:ha-noi"]
    police = national_report(**common, movement="vi-an-ninh")
    assert [r["unit_id"] for r in police["units"]] == [
        u["_id"] for u in units if u["_id"].startswith("police:")]
    assert set(police["by_type"]) == {"police"} and "mps-cluster-4" in police["by_cluster"]
    assert "Cục Công tác Đảng" in police["organiser"]
    assert [p["unit_id"] for p in police["proposals"]["items"]] == ["police:phu-tho"]
