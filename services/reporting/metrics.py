"""Prometheus metrics of the reporting service (low-cardinality labels only)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.common.metrics import LATENCY_BUCKETS

KNOWN_TYPES = frozenset({
    "vn.emulation.submission.accepted", "vn.emulation.score.computed",
    "vn.emulation.cluster.standings", "vn.emulation.recognition.proposals",
    "vn.emulation.cluster.leadership", "vn.emulation.notification.sent",
    "vn.emulation.notification.delivered", "vn.emulation.notification.failed",
    "vn.emulation.notification.deferred", "vn.emulation.registry.unit",
    "vn.emulation.registry.cluster",
})

EVENTS_APPLIED = Counter(
    "reporting_read_model_events_total",
    "Events applied to the read models, by event type and outcome "
    "(applied, stale: an older version of what is stored, ignored: not used here).",
    ["type", "outcome"],
)
REPORTS_RENDERED = Counter(
    "reporting_reports_rendered_total", "Reports produced, by kind and format.",
    ["kind", "format"],
)
REPORT_SECONDS = Histogram(
    "reporting_report_seconds", "Time to assemble and render a report, by kind and format.",
    ["kind", "format"], buckets=LATENCY_BUCKETS,
)
SNAPSHOTS = Counter(
    "reporting_national_snapshots_total",
    "National synthesis requests (reports and dashboard polls) by how they were served: "
    "hit (held, tokens unchanged), shared (computed by a concurrent request), computed.",
    ["outcome"],
)
REBUILDS = Counter(
    "reporting_rebuilds_total", "Read-model rebuilds from the topics, by outcome.", ["outcome"],
)
REBUILD_SECONDS = Histogram(
    "reporting_rebuild_seconds", "Duration of a read-model rebuild.",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
REBUILD_RECORDS = Counter(
    "reporting_rebuild_records_total", "Records replayed by rebuilds, by topic and outcome.",
    ["topic", "outcome"],
)


def applied(event_type: str, outcome: str) -> None:
    EVENTS_APPLIED.labels(event_type if event_type in KNOWN_TYPES else "other", outcome).inc()
