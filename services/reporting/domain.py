"""The national synthesis as a plain function of the read model."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any


def rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _counts(expected: list[str], reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    submitted = [u for u in expected if u in reports]
    on_time = [u for u in submitted if reports[u]["on_time"]]
    return {
        "expected": len(expected), "submitted": len(submitted), "on_time": len(on_time),
        "late": len(submitted) - len(on_time),
        "completeness": rate(len(submitted), len(expected)),
        "timeliness": rate(len(on_time), len(expected)),
    }


def national_report(*, period: int, as_of: datetime, units: list[dict[str, Any]],
                    clusters: dict[str, dict[str, Any]], reports: dict[str, dict[str, Any]],
                    scores: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Completeness (submitted / expected) and timeliness (on time / expected), as
    DHIS2 defines its reporting rates, over the units of that year's registry."""
    expected = [u["_id"] for u in units]
    by_type: dict[str, list[str]] = defaultdict(list)
    for u in units:
        by_type[u["type"]].append(u["_id"])
    report = {
        "period": period,
        "as_of": as_of.isoformat(),
        **_counts(expected, reports),
        "by_type": {t: _counts(ids, reports) for t, ids in sorted(by_type.items())},
        "by_cluster": {
            cid: {"name": c.get("name", cid), **_counts(list(c["members"]), reports)}
            for cid, c in sorted(clusters.items(), key=lambda kv: _cluster_order(kv[0]))
        },
        "missing": [u for u in expected if u not in reports],
        "scored": sum(1 for u in expected if u in scores),
    }
    return report


def _cluster_order(cluster_id: str) -> tuple[str, int]:
    prefix, _, number = cluster_id.rpartition("-")
    return (prefix, int(number)) if number.isdigit() else (cluster_id, 0)


def report_csv_rows(report: dict[str, Any]) -> list[list[Any]]:
    """One row per breakdown line: scope, name, expected, submitted, on time, late, rates."""
    head = ["scope", "name", "expected", "submitted", "on_time", "late", "completeness",
            "timeliness"]
    rows: list[list[Any]] = [head]

    def row(scope: str, name: str, c: dict[str, Any]) -> list[Any]:
        return [scope, name, c["expected"], c["submitted"], c["on_time"], c["late"],
                c["completeness"], c["timeliness"]]

    rows.append(row("national", str(report["period"]), report))
    rows += [row("type", t, c) for t, c in report["by_type"].items()]
    rows += [row("cluster", cid, c) for cid, c in report["by_cluster"].items()]
    return rows
