"""The national synthesis as a plain function of the read model (no I/O).

Completeness (submitted / expected) and timeliness (on time / expected) follow DHIS2's
reporting rates; expected units are those of that year's registry."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from services.common import individuals, movements
from services.common.errors import Refusal, Refused
from services.reporting.labels import CONTENTS, DEFAULT_SCALE_NOTE, award_label
from services.reporting.models import (
    ClusterCounts,
    Clusters,
    ContentSummary,
    Counts,
    Example,
    IndividualsSummary,
    MissingUnit,
    NamedProposal,
    NationalReport,
    ProposalsDoc,
    ProposalsView,
    RegistryUnit,
    ReminderDoc,
    ReminderOutcomes,
    ReminderRow,
    RemindersByUnit,
    ReportsByUnit,
    ScoreDistribution,
    ScoreDoc,
    ScoresByUnit,
    UnitRow,
)

EXAMPLES_PER_CONTENT = 3
EXAMPLE_SUMMARY_CHARS = 400
HISTOGRAM_BUCKETS = 10


class UnknownCluster(Refused):
    """No such cluster in that period's registry."""

    def __init__(self, detail: str) -> None:
        super().__init__(Refusal.NOT_FOUND, "not-found", detail)


def rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def campaign_deadline(period: int, reports: ReportsByUnit,
                      movement: str = movements.DEFAULT) -> datetime:
    """The deadline the submissions were judged by (each event carries it), else the
    movement's default one."""
    seen = [d for r in reports.values() if isinstance(d := r.get("deadline"), datetime)]
    return max(seen) if seen else movements.default_deadline(period, movement)


def counts(expected: list[str], reports: ReportsByUnit) -> Counts:
    submitted = [u for u in expected if u in reports]
    on_time = [u for u in submitted if reports[u].get("on_time")]
    return {
        "expected": len(expected), "submitted": len(submitted), "on_time": len(on_time),
        "late": len(submitted) - len(on_time),
        "completeness": rate(len(submitted), len(expected)),
        "timeliness": rate(len(on_time), len(expected)),
    }


def cluster_of(clusters: Clusters) -> dict[str, str]:
    return {m: cid for cid, c in clusters.items() for m in c.get("members", [])}


def cluster_order(cluster_id: str) -> tuple[str, int]:
    prefix, _, number = cluster_id.rpartition("-")
    return (prefix, int(number)) if number.isdigit() else (cluster_id, 0)


def statement(as_of: datetime, last_event_at: datetime | None) -> str:
    newest = f"; the newest event applied is of {last_event_at.isoformat()}" \
        if last_event_at else "; no event applied yet"
    return (f"Generated at {as_of.isoformat()} from the events the reporting service had "
            f"processed by then{newest}.")


def reminder_view(docs: list[ReminderDoc]) -> list[ReminderRow]:
    rows: list[ReminderRow] = [{"stage": d.get("stage"), "channel": d.get("channel"),
             "recipient": d.get("recipient"), "status": d.get("status"),
             "sent_at": iso(d.get("sent_at"))} for d in docs]
    return sorted(rows, key=lambda r: (r["sent_at"] or "", str(r["stage"]), str(r["channel"]),
                                       str(r["recipient"])))


def unit_rows(units: list[RegistryUnit], clusters: Clusters, reports: ReportsByUnit,
              scores: ScoresByUnit) -> list[UnitRow]:
    """One line per expected unit: who it is, whether and when it reported, its score."""
    in_cluster = cluster_of(clusters)
    rows: list[UnitRow] = []
    for u in units:
        uid, rep, score = u["_id"], reports.get(u["_id"]), scores.get(u["_id"])
        rows.append({
            "unit_id": uid, "name": u.get("name", uid), "name_en": u.get("name_en", uid),
            "type": u.get("type", uid.split(":")[0]), "cluster_id": in_cluster.get(uid),
            "submitted": rep is not None,
            "first_received_at": iso(rep.get("first_received_at")) if rep else None,
            "on_time": bool(rep.get("on_time")) if rep else None,
            "revision": rep.get("revision") if rep else None,
            "score": score.get("total") if score else None,
            "max": score.get("max") if score else None,
        })
    return rows


def score_distribution(totals: list[tuple[float, float]]) -> ScoreDistribution:
    """Statistics of (total, max) pairs; the histogram is over the percentage of the
    maximum, in buckets of 10 points (the last one includes 100 %)."""
    width = 100 // HISTOGRAM_BUCKETS
    buckets = [0] * HISTOGRAM_BUCKETS
    for total, top in totals:
        pct = 100.0 * total / top if top else 0.0
        buckets[min(max(int(pct // width), 0), HISTOGRAM_BUCKETS - 1)] += 1
    values = [t for t, _ in totals]
    return {
        "count": len(values),
        "mean": round(statistics.fmean(values), 2) if values else None,
        "median": round(statistics.median(values), 2) if values else None,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
        "max_possible": max((m for _, m in totals), default=None),
        "histogram": [{"from": i * width, "to": (i + 1) * width, "count": n}
                      for i, n in enumerate(buckets)],
    }


def content_synthesis(units: list[RegistryUnit], reports: ReportsByUnit,
                      scores: ScoresByUnit) -> dict[str, ContentSummary]:
    """Per content: how many units reported on it, the sum of each indicator, and a
    few examples (the best-scored units' summaries)."""
    names = {u["_id"]: u.get("name", u["_id"]) for u in units}
    out: dict[str, ContentSummary] = {}
    for key, (title, title_en) in CONTENTS.items():
        sums: dict[str, float] = defaultdict(float)
        reporters = []
        for uid in names:
            rep = reports.get(uid)
            item = rep.get("contents", {}).get(key) if rep else None
            if not item:
                continue
            reporters.append(uid)
            for name, value in item.get("indicators", {}).items():
                sums[name] += value
        best = sorted(reporters, key=lambda u: (-_score_of(scores.get(u)), u))
        examples: list[Example] = []
        for uid in best[:EXAMPLES_PER_CONTENT]:
            summary = str(reports[uid]["contents"][key].get("summary", ""))
            if len(summary) > EXAMPLE_SUMMARY_CHARS:
                summary = summary[:EXAMPLE_SUMMARY_CHARS - 1].rstrip() + "…"
            examples.append({"unit_id": uid, "name": names[uid], "summary": summary})
        out[key] = {
            "title": title, "title_en": title_en, "units_reported": len(reporters),
            "indicators": {k: _number(v) for k, v in sorted(sums.items())},
            "examples": examples,
        }
    return out


def _score_of(doc: ScoreDoc | None) -> float:
    total = doc.get("total") if doc else None
    return float(total) if isinstance(total, int | float) else -1.0


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 4)


def proposals_view(doc: ProposalsDoc | None, names: dict[str, str],
                   cluster_id: str | None = None, movement: str | None = None
                   ) -> ProposalsView | None:
    if doc is None:
        return None
    items: list[NamedProposal] = [
        {**p, "name": names.get(p["unit_id"], p["unit_id"]),
         "award_label": award_label(p.get("award", ""))}
        for p in doc.get("proposals", [])
        if (cluster_id is None or p.get("cluster_id") == cluster_id)
        and (movement is None or movements.movement_of(p["unit_id"]) == movement)
    ]
    return {"computed_at": iso(doc.get("computed_at")),
            "government_flag_cap": doc.get("government_flag_cap"),
            "cluster_leaders": doc.get("cluster_leaders"), "items": items}


def missing_units(rows: list[UnitRow], reminders: RemindersByUnit) -> list[MissingUnit]:
    return [
        {"unit_id": r["unit_id"], "name": r["name"], "type": r["type"],
         "cluster_id": r["cluster_id"], "reminders": reminder_view(reminders.get(r["unit_id"],
                                                                                 []))}
        for r in rows if not r["submitted"]
    ]


def in_movement(movement: str, units: list[RegistryUnit]) -> list[RegistryUnit]:
    return [u for u in units if movements.movement_of(u["_id"]) == movement]


def national_report(*, period: int, as_of: datetime, units: list[RegistryUnit],
                    clusters: Clusters, reports: ReportsByUnit, scores: ScoresByUnit,
                    reminders: RemindersByUnit | None = None,
                    proposals: ProposalsDoc | None = None,
                    last_event_at: datetime | None = None,
                    movement: str | None = movements.DEFAULT) -> NationalReport:
    """One movement's synthesis: reporting rates overall, by unit type and by cluster;
    what was done under each content; scores; proposals; who is missing. For `toan-dan`
    it is the synthesis for the Prime Minister (the police are not in it: each province
    is counted once, by its People's Committee); the MPS clusters are `vi-an-ninh`'s.
    `movement=None` sums whatever units it is given (the arithmetic's own tests; no
    report of the platform mixes the movements)."""
    # Individuals are no registry units: their records count apart, in their movement.
    people = individuals_synthesis(reports, scores) if movement in (
        None, movements.movement_of("individual")) else individuals_synthesis({}, {})
    if movement is not None:
        units = in_movement(movement, units)
        wanted = {u["_id"] for u in units}
        reports = {u: r for u, r in reports.items() if u in wanted}
        if movement != movements.VI_AN_NINH:
            clusters = {}
    about = movements.MOVEMENTS[movement or movements.DEFAULT]
    expected = [u["_id"] for u in units]
    by_type: dict[str, list[str]] = defaultdict(list)
    for u in units:
        by_type[u["type"]].append(u["_id"])
    rows = unit_rows(units, clusters, reports, scores)
    names = {r["unit_id"]: r["name"] for r in rows}
    scored = [(float(total), float(s.get("max") or 0)) for u, s in scores.items()
              if u in names and isinstance(total := s.get("total"), int | float)]
    missing_rows = missing_units(rows, reminders or {})
    return {
        "period": period,
        "movement": movement,
        "movement_name": about.name if movement else "",
        "organiser": about.organiser if movement else "",
        "as_of": as_of.isoformat(),
        "last_event_at": iso(last_event_at),
        "statement": statement(as_of, last_event_at),
        "deadline": campaign_deadline(period, reports, movement or movements.DEFAULT
                                      ).isoformat(),
        **counts(expected, reports),
        "by_type": {t: counts(ids, reports) for t, ids in sorted(by_type.items())},
        "by_cluster": {
            cid: _cluster_counts(c.get("name", cid), counts(list(c["members"]), reports))
            for cid, c in sorted(clusters.items(), key=lambda kv: cluster_order(kv[0]))
        },
        "missing": [u for u in expected if u not in reports],
        "individuals": people,
        "missing_units": missing_rows,
        "reminders_sent": sum(len(m["reminders"]) for m in missing_rows),
        **reminder_outcomes(reminders or {}),
        "scored": len(scored),
        "scores": score_distribution(scored),
        "scale_note": DEFAULT_SCALE_NOTE,
        "contents": content_synthesis(units, reports, scores),
        "proposals": proposals_view(proposals, names, movement=movement),
        "units": rows,
    }


def _cluster_counts(name: str, of: Counts) -> ClusterCounts:
    return {"name": name, **of}


def individuals_synthesis(reports: ReportsByUnit, scores: ScoresByUnit
                          ) -> IndividualsSummary:
    """The people's records of criterion group 5 (services.common.individuals): how many,
    on time, scored, by person group (5a, 5b) and by the unit that reported them. Counts
    only, never an id: the synthesis names no person."""
    people = {u: r for u, r in reports.items() if individuals.is_individual(u)}
    by_group = Counter(str(r.get("person_group")) for r in people.values())
    by_unit = Counter(filter(None, map(individuals.sponsor_or_none, people)))
    return {"submitted": len(people),
            "on_time": sum(1 for r in people.values() if r.get("on_time")),
            "scored": sum(1 for u in people if u in scores),
            "by_group": {g: by_group.get(g, 0) for g in individuals.GROUPS},
            "by_unit": dict(sorted(by_unit.items()))}


def reminder_outcomes(reminders: RemindersByUnit) -> ReminderOutcomes:
    """Every reminder of the period by its latest status, and the two operators watch:
    `unknown` (it may or may not have gone out; resolved within minutes, so one that
    stays is a fault) and `escalated` (sent again by the other channel, with a note that
    it may arrive twice)."""
    by_status = Counter(str(d.get("status")) for docs in reminders.values() for d in docs)
    return {"reminder_statuses": dict(sorted(by_status.items())),
            "reminders_unknown": by_status.get("unknown", 0),
            "reminders_escalated": by_status.get("escalated", 0)}


def report_csv_rows(report: NationalReport) -> list[list[Any]]:
    """One row per breakdown line: scope, name, expected, submitted, on time, late, rates."""
    head = ["scope", "name", "expected", "submitted", "on_time", "late", "completeness",
            "timeliness"]
    rows: list[list[Any]] = [head]

    def row(scope: str, name: str, c: Counts) -> list[Any]:
        return [scope, name, c["expected"], c["submitted"], c["on_time"], c["late"],
                c["completeness"], c["timeliness"]]

    rows.append(row("national", str(report["period"]), report))
    rows += [row("type", t, c) for t, c in report["by_type"].items()]
    rows += [row("cluster", cid, c) for cid, c in report["by_cluster"].items()]
    # Individuals: no expected count, so no rates; the groups by their records only.
    people = report.get("individuals")
    if people and people.get("submitted"):
        rows.append(["individuals", "all", "", people["submitted"], people["on_time"],
                     people["submitted"] - people["on_time"], "", ""])
        rows += [["individuals", g, "", n, "", "", "", ""]
                 for g, n in people["by_group"].items()]
    return rows
