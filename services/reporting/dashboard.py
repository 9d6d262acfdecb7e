"""What the operators' dashboard shows, as plain functions: the national figures, the
daily cumulative reporting rates towards the deadline, and links to every report."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from services.reporting.labels import VN_TZ
from services.reporting.models import (
    ClusterCounts,
    DailyPoint,
    NationalReport,
    ReportLinks,
    ReportsByUnit,
)

# The chart always shows at least the last month before the deadline.
SERIES_MIN_DAYS = 30
NATIONAL_FORMATS = ("html", "pdf", "xlsx", "csv", "json")
CLUSTER_FORMATS = ("html", "pdf", "csv", "json")


def daily_series(*, expected: list[str], reports: ReportsByUnit,
                 deadline: datetime, as_of: datetime) -> list[DailyPoint]:
    """Cumulative submitted and on-time counts (and rates) at the end of each Hanoi
    calendar day, by first-receipt time, from the first receipt (or a month before the
    deadline) up to today, or the deadline's day once the campaign is over."""
    firsts: list[tuple[date, bool]] = []
    for uid in expected:
        rep = reports.get(uid)
        received = rep.get("first_received_at") if rep else None
        if isinstance(received, datetime):
            firsts.append((received.astimezone(VN_TZ).date(), bool(rep and rep.get("on_time"))))
    deadline_day = deadline.astimezone(VN_TZ).date()
    days = [d for d, _ in firsts]
    start = min([deadline_day - timedelta(days=SERIES_MIN_DAYS - 1), *days])
    end = min(as_of.astimezone(VN_TZ).date(), max([deadline_day, *days]))
    series: list[DailyPoint] = []
    whole = len(expected)
    day = start
    while day <= end:
        submitted = sum(1 for d, _ in firsts if d <= day)
        on_time = sum(1 for d, ok in firsts if d <= day and ok)
        series.append({"date": day.isoformat(), "submitted": submitted, "on_time": on_time,
                       "completeness": round(submitted / whole, 4) if whole else 0.0,
                       "timeliness": round(on_time / whole, 4) if whole else 0.0})
        day += timedelta(days=1)
    return series


def report_links(period: int, clusters: dict[str, ClusterCounts], movement: str | None = None
                 ) -> ReportLinks:
    of = f"&movement={movement}" if movement else ""
    national = {f: f"/v1/reports/national?period={period}{of}&format={f}"
                for f in NATIONAL_FORMATS}
    return {
        "national": national,
        "clusters": [
            {"cluster_id": cid, "name": c.get("name", cid),
             "links": {f: f"/v1/reports/clusters/{cid}?period={period}&format={f}"
                       for f in CLUSTER_FORMATS}}
            for cid, c in clusters.items()
        ],
    }


def dashboard_view(report: NationalReport, series: list[DailyPoint],
                   refresh_seconds: float) -> dict[str, Any]:
    """The page's data: the same figures as the national report (one computation, so
    the page and the report cannot disagree), plus the series and the links."""
    keep = ("period", "movement", "movement_name", "organiser", "as_of", "last_event_at",
            "statement", "deadline", "expected",
            "submitted", "on_time", "late", "completeness", "timeliness", "by_type",
            "by_cluster", "scored", "reminders_sent", "reminders_unknown",
            "reminders_escalated", "reminder_statuses")
    missing = [{**{k: m[k] for k in ("unit_id", "name", "type", "cluster_id")},
                "reminders": len(m["reminders"]),
                "last_reminder": m["reminders"][-1] if m["reminders"] else None}
               for m in report["missing_units"]]
    figures = dict(report.items())
    return {**{k: figures[k] for k in keep}, "missing_units": missing, "series": series,
            "reports": report_links(report["period"], report["by_cluster"],
                                    report.get("movement")),
            "refresh_seconds": refresh_seconds}
