"""The scoring service's own Prometheus metrics (low-cardinality labels only)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SCORES = Counter(
    "scoring_scores_total",
    "Scores computed, by unit type and outcome (current, replayed, superseded).",
    ["unit_type", "outcome"],
)
PUBLICATIONS = Counter(
    "scoring_publications_total",
    "Standings, proposals and leadership events, by kind and outcome (emitted, unchanged).",
    ["kind", "outcome"],
)
RESCORES = Counter(
    "scoring_rescores_total", "Operator rescores, by outcome (completed, refused, failed).",
    ["outcome"],
)
RESCORE_SECONDS = Histogram(
    "scoring_rescore_duration_seconds", "Time a rescore takes, replay included.",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
RESCORED = Counter(
    "scoring_rescored_submissions_total", "Submissions scored again by operator rescores.",
)
RUBRICS_LOADED = Gauge("scoring_rubrics_loaded", "Rubric versions loaded at start-up.")
RANKINGS_PERIODS = Counter(
    "scoring_rankings_recomputed_total",
    "Periods whose standings and proposals were recomputed (debounced, after new scores).",
)
RANKINGS_SECONDS = Histogram(
    "scoring_rankings_recompute_duration_seconds",
    "Time one debounced recomputation takes, every pending period with its publications.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
