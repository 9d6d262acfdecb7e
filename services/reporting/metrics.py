"""Prometheus metrics of the reporting service (low-cardinality labels only)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.common import event_types
from services.common.metrics import LATENCY_BUCKETS

# The types the read models apply (a metric label for each; any other is "other").
KNOWN_TYPES = frozenset({
    event_types.SUBMISSION_ACCEPTED, event_types.SCORE_COMPUTED,
    event_types.CLUSTER_STANDINGS, event_types.RECOGNITION_PROPOSALS,
    event_types.CLUSTER_LEADERSHIP, *map(event_types.notification, (
        "sent", "delivered", "failed", "deferred")),
    event_types.REGISTRY_UNIT, event_types.REGISTRY_CLUSTER,
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
