"""Prometheus metrics of the notifications service (low-cardinality labels only)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.common.metrics import LATENCY_BUCKETS

SEND_ATTEMPTS = Counter(
    "notification_send_attempts_total",
    "Tries to hand a reminder to a provider, by channel, provider and outcome.",
    ["channel", "provider", "outcome"],
)
SEND_SECONDS = Histogram(
    "notification_send_duration_seconds", "Time one provider took to take a message.",
    ["channel", "provider"], buckets=LATENCY_BUCKETS,
)
REMINDERS = Counter(
    "notification_reminders_total",
    "Reminders by final state (sent, failed, unknown, deferred, cancelled, skipped, "
    "delivered, fallback), kind (reminder or digest) and channel.",
    ["status", "kind", "channel"],
)
UNKNOWN_OUTCOMES = Counter(
    "notification_unknown_outcomes_total",
    "Reminders whose outcome is unknown (they may or may not have gone out and are never "
    "resent), by channel and reason: provider (no answer after the content was sent), "
    "abandoned (the worker stopped between claim and mark), interrupted (the send failed "
    "inside the service after it was handed to a provider).",
    ["channel", "reason"],
)
UNKNOWN_RESOLVED = Counter(
    "notification_unknown_resolved_total",
    "Unknown reminder outcomes resolved, by channel and how: message-id (found in the SMTP "
    "relay's log: sent), fallback (sent again by the other channel with a note: escalated), "
    "no-fallback, reported, stage-past (failed with the reason).",
    ["channel", "resolution"],
)
CIRCUIT_OPEN = Gauge(
    "notification_provider_circuit_open", "1 while a provider's circuit breaker is open.",
    ["provider"],
)
PASSES = Counter(
    "notification_scheduler_passes_total", "Scheduling passes, by trigger.", ["trigger"],
)
PASS_SECONDS = Histogram(
    "notification_scheduler_pass_duration_seconds", "Time one scheduling pass took.",
    ["trigger"], buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
OWNED_PARTITIONS = Gauge(
    "notification_owned_partitions",
    "Partitions of emulation.units.v1 this worker schedules reminders for.",
)
RECEIPTS = Counter(
    "notification_delivery_receipts_total", "Delivery receipts received, by provider and stat.",
    ["provider", "stat"],
)
CAMPAIGN_UNITS = Gauge(
    "campaign_units",
    "Units of a campaign period's registry by movement and state (expected, submitted, "
    "on_time, late, missing).",
    ["period", "movement", "state"],
)
CAMPAIGN_DEADLINE = Gauge(
    "campaign_deadline_timestamp_seconds",
    "A campaign period's units' deadline of each movement, as a Unix time.",
    ["period", "movement"],
)
MILESTONE_AT_RISK = Gauge(
    "synthesis_milestone_at_risk",
    "1 while the period's synthesis for the Prime Minister is at risk (not drafted within "
    "3 days of its due date, or not sent by it)", ["period"],
)

# Every channel and reason exists from the start, at 0: a counter first seen at 1 shows no
# increase() in Prometheus, and the first unknown outcome would not alert.
for _channel in ("email", "sms"):
    for _reason in ("provider", "abandoned", "interrupted"):
        UNKNOWN_OUTCOMES.labels(_channel, _reason)
    for _resolution in ("message-id", "fallback", "no-fallback", "reported", "stage-past"):
        UNKNOWN_RESOLVED.labels(_channel, _resolution)
