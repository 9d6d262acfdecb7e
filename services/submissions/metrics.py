"""Prometheus metrics of the submissions service (low-cardinality labels only)."""

from __future__ import annotations

from prometheus_client import Counter

UNAUTHENTICATED = Counter(
    "submission_requests_unauthenticated_total",
    "Kafka submission requests refused for want of a valid proof of the unit, by why: "
    "missing (no signature headers), bad-signature (unknown key or wrong HMAC), "
    "other-unit (a valid key of another unit than the one claimed).",
    ["why"],
)

CONFLICTS = Counter(
    "submissions_key_conflicts_total",
    "Submissions found through a conflicting insert rather than their key pointer (a "
    "concurrent replay, or a pointer a crash never wrote)",
)
