"""CSV: one table per report (the national breakdown; a cluster's standings)."""

from __future__ import annotations

import csv
import io
from typing import Any

from services.reporting.cluster_report import cluster_csv_rows
from services.reporting.domain import report_csv_rows
from services.reporting.models import ClusterReport, NationalReport
from services.reporting.render.text import inert, nfc


def _csv(rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([inert(nfc(v)) if isinstance(v, str) else v for v in row]
                              for row in rows)
    return buf.getvalue().encode("utf-8")


def national_csv(report: NationalReport) -> bytes:
    return _csv(report_csv_rows(report))


def cluster_csv(report: ClusterReport) -> bytes:
    return _csv(cluster_csv_rows(report))
