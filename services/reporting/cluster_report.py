"""A cluster's year-end report for its conference, as a plain function (no I/O):
standings with each score's breakdown, the cluster's proposals for recognition, next
year's head and deputy, and who has not reported."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from services.common import movements
from services.common.registry_replica import ReplicaYear
from services.reporting.domain import (
    campaign_deadline,
    counts,
    iso,
    missing_units,
    proposals_view,
    statement,
    unit_rows,
)
from services.reporting.labels import DEFAULT_SCALE_NOTE, LEADERSHIP_STATUS, award_label
from services.reporting.models import (
    ClusterEntry,
    ClusterReport,
    ConferenceView,
    Leadership,
    LeadershipDoc,
    MissingUnit,
    NamedStanding,
    NamedUnit,
    ProposalsDoc,
    RegistryUnit,
    ReminderRow,
    RemindersByUnit,
    ReportsByUnit,
    ScoresByUnit,
    StandingRow,
    StandingsDoc,
)


def derived_standings(members: list[str], reports: ReportsByUnit,
                      scores: ScoresByUnit) -> list[StandingRow]:
    """Standings from the current scores, for as long as the scoring service has not
    published the cluster's own: higher score first, equal scores share a rank
    (1, 1, 3), units without a score are listed after, unranked."""
    rows: list[StandingRow] = []
    for uid in members:
        rep, score = reports.get(uid), scores.get(uid)
        total = score.get("total") if score else None
        rows.append({
            "unit_id": uid, "rank": None,
            "score": total if isinstance(total, int | float) else None,
            "max": score.get("max") if score else None, "submitted": rep is not None,
            "on_time": bool(rep.get("on_time")) if rep else None,
            "revision": rep.get("revision") if rep else None,
            "breakdown": list((score.get("breakdown") if score else None) or []),
        })
    ranked = sorted((r for r in rows if r["score"] is not None),
                    key=lambda r: (-(r["score"] or 0.0), r["unit_id"]))
    for position, row in enumerate(ranked, start=1):
        previous = ranked[position - 2] if position > 1 else None
        row["rank"] = previous["rank"] if previous and previous["score"] == row["score"] \
            else position
    unranked = sorted((r for r in rows if r["score"] is None), key=lambda r: r["unit_id"])
    return ranked + unranked


def _named(unit_id: str | None, names: dict[str, str]) -> NamedUnit | None:
    return {"unit_id": unit_id, "name": names.get(unit_id, unit_id)} if unit_id else None


def next_leadership(period: int, decided: LeadershipDoc | None,
                    registry_years: Mapping[str, ReplicaYear], names: dict[str, str]
                    ) -> Leadership | None:
    """Head and deputy for period + 1: who was elected (the cluster conference's record,
    or the registry for that year: the one source every service reads), else the
    scoring service's suggestion, labelled as such, else None (nothing known yet)."""
    year = period + 1
    entry = registry_years.get(str(year))
    if entry and (entry.get("head") or entry.get("deputy")):
        conference = entry.get("conference")
        return {"period": year, "head": _named(entry.get("head"), names),
                "deputy": _named(entry.get("deputy"), names), "status": "confirmed",
                "status_label": LEADERSHIP_STATUS["confirmed"],
                "rule": "conference" if conference else "registry",
                "reason": "elected at the cluster conference" if conference
                else "recorded in the unit registry",
                "decided_at": conference.get("recorded_at") if conference else None,
                "source": "conference" if conference else "registry"}
    if decided is not None:
        status = decided.get("status")
        return {"period": year, "head": _named(decided.get("head"), names),
                "deputy": _named(decided.get("deputy"), names), "status": status,
                "status_label": LEADERSHIP_STATUS.get(str(status), status),
                "rule": decided.get("rule"), "reason": decided.get("reason"),
                "decided_at": iso(decided.get("decided_at")), "source": "scoring"}
    return None


def conference_view(period: int, registry_years: Mapping[str, ReplicaYear], names: dict[str, str]
                    ) -> ConferenceView | None:
    """The record of the cluster's conference reviewing `period` (what it agreed and who
    recorded it), or None while none is recorded."""
    entry = registry_years.get(str(period + 1))
    conference = entry.get("conference") if entry else None
    if not conference:
        return None
    return {"date": conference.get("date"), "place": conference.get("place"),
            "recorded_by": conference.get("recorded_by"),
            "recorded_at": conference.get("recorded_at"),
            "proposals": [{"unit_id": p["unit_id"], "award": p["award"], "reason": p["reason"],
                           "name": names.get(p["unit_id"], p["unit_id"]),
                           "award_label": award_label(p.get("award", ""))}
                          for p in conference.get("proposals", [])]}


def cluster_report(*, cluster_id: str, period: int, as_of: datetime,
                   cluster: ClusterEntry, registry_years: Mapping[str, ReplicaYear],
                   units: list[RegistryUnit], reports: ReportsByUnit, scores: ScoresByUnit,
                   reminders: RemindersByUnit,
                   standings: StandingsDoc | None, proposals: ProposalsDoc | None,
                   leadership: LeadershipDoc | None,
                   last_event_at: datetime | None = None) -> ClusterReport:
    members = list(cluster.get("members", []))
    by_id = {u["_id"]: u for u in units}
    member_units = [by_id.get(m, RegistryUnit(_id=m, type=m.split(":")[0])) for m in members]
    rows = unit_rows(member_units, {cluster_id: cluster}, reports, scores)
    names = {u["_id"]: u.get("name", u["_id"]) for u in units}
    table: list[StandingRow]
    source: Literal["scoring", "derived"]
    if standings is not None:
        table = sorted(standings.get("standings", []),
                       key=lambda r: (r.get("rank") is None, r.get("rank") or 0, r["unit_id"]))
        source = "scoring"
    else:
        table = derived_standings(members, reports, scores)
        source = "derived"
    own_reports = {u: r for u, r in reports.items() if u in members}
    return {
        "cluster_id": cluster_id, "name": cluster.get("name", cluster_id), "period": period,
        "as_of": as_of.isoformat(), "last_event_at": iso(last_event_at),
        "statement": statement(as_of, last_event_at),
        "deadline": campaign_deadline(period, own_reports, movements.VI_AN_NINH).isoformat(),
        **counts(members, reports),
        "members": rows,
        "head": _named(cluster.get("head"), names),
        "deputy": _named(cluster.get("deputy"), names),
        "standings": [_named_standing(r, names) for r in table],
        "standings_source": source,
        "scale_note": DEFAULT_SCALE_NOTE,
        "standings_computed_at": iso(standings.get("computed_at")) if standings else None,
        "rubric_version": standings.get("rubric_version") if standings else None,
        "tie_break": standings.get("tie_break") if standings else None,
        # Computed by the scoring service: suggestions for the conference, which decides.
        "proposals": (proposals_view(proposals, names, cluster_id) or {"items": []})["items"],
        "conference": conference_view(period, registry_years, names),
        "next_year_leadership": next_leadership(period, leadership, registry_years, names),
        "missing": [r["unit_id"] for r in rows if not r["submitted"]],
        "missing_units": missing_units(rows, reminders),
    }


def _named_standing(row: StandingRow, names: dict[str, str]) -> NamedStanding:
    return {**row, "name": names.get(row["unit_id"], row["unit_id"])}


def cluster_csv_rows(report: ClusterReport) -> list[list[Any]]:
    """The standings, one row per unit, with the breakdown in one readable column."""
    rows: list[list[Any]] = [["rank", "unit_id", "name", "score", "max", "submitted",
                              "on_time", "revision", "breakdown", "scale"]]
    for r in report["standings"]:
        lines = "; ".join(f"{b['criterion']}: {b['points']}/{b['max_points']}"
                          for b in r.get("breakdown", []))
        rows.append([r.get("rank"), r["unit_id"], r["name"], r.get("score"), r.get("max"),
                     r.get("submitted"), r.get("on_time"), r.get("revision"), lines,
                     DEFAULT_SCALE_NOTE])
    return rows


def _without_recipient(reminder: ReminderRow) -> ReminderRow:
    kept = reminder.copy()
    kept.pop("recipient", None)
    return kept


def member_copy(report: ClusterReport, unit_id: str) -> ClusterReport:
    """The cluster report as one member's system may read it: every member's rank,
    total and whether it reported, but only its own breakdown and its own reminders'
    recipients (the others' e-mail addresses and phone numbers are not its to read)."""
    def standing(row: NamedStanding) -> NamedStanding:
        return row if row.get("unit_id") == unit_id else {**row, "breakdown": []}

    def missing(row: MissingUnit) -> MissingUnit:
        if row.get("unit_id") == unit_id:
            return row
        return {**row, "reminders": [_without_recipient(r) for r in row.get("reminders", [])]}

    return {**report, "standings": [standing(r) for r in report.get("standings", [])],
            "missing_units": [missing(r) for r in report.get("missing_units", [])]}
