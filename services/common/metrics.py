"""Prometheus metric families shared by the services (low-cardinality labels only)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 3600, 86400)

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered, by route and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request.",
    ["method", "route"], buckets=LATENCY_BUCKETS,
)
HTTP_INFLIGHT = Gauge(
    "http_inflight_requests", "Requests of a limited route in progress now, by route.",
    ["route"],
)
HTTP_SHED = Counter(
    "http_requests_shed_total",
    "Requests refused with 429 because their route's in-flight limit was reached.", ["route"],
)
AUDIT_WRITE_FAILURES = Counter(
    "emulation_audit_write_failures_total",
    "Operator actions whose audit record could not be written (logged instead).",
)
HTTP_READ_TIMEOUTS = Counter(
    "http_body_read_timeouts_total",
    "Requests answered 408 because their body did not arrive within the read timeout.",
)
EVENTS_CONSUMED = Counter(
    "events_consumed_total", "Kafka records consumed, by topic and outcome.",
    ["topic", "outcome"],
)
EVENTS_PRODUCED = Counter(
    "events_produced_total", "Kafka records produced and acknowledged, by topic.", ["topic"]
)
PRODUCE_FAILURES = Counter(
    "produce_failures_total", "Kafka produces that failed or timed out, by topic.", ["topic"]
)
EVENT_LAG = Histogram(
    "event_processing_delay_seconds",
    "Delay from an event's time to the end of its processing, by topic.",
    ["topic"], buckets=LAG_BUCKETS,
)
OUTBOX_RELAY_FAILURES = Counter(
    "outbox_relay_failures_total",
    "Outbox entries a relay could not publish (each retried later with backoff), by outbox.",
    ["outbox"],
)
DLQ_RECORDS = Counter(
    "dlq_records_total", "Records sent to a dead-letter topic, by source topic and reason.",
    ["topic", "reason"],
)
CONSUMER_NUDGES = Counter(
    "kafka_consumer_nudges_total", "Seeks to the committed offsets of a consumer found "
    "idle while records waited on its partitions (the restart stall), by group.",
    ["group"],
)
BATCH_SIZE = Histogram(
    "consumer_batch_records", "Records handled together in one batch, by consumer.",
    ["consumer"], buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
BATCH_SECONDS = Histogram(
    "consumer_batch_seconds", "Time to handle one batch (writes, produces, flush), by "
    "consumer.", ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RETRIES = Counter(
    "processing_retries_total", "Retries of a record after a transient error, by topic.",
    ["topic"],
)
CONSUMER_LAG = Gauge(
    "kafka_consumer_lag_records", "Records not yet consumed, by topic and partition.",
    ["topic", "partition"],
)
CONSUMER_PROGRESS = Gauge(
    "kafka_consumer_last_progress_timestamp_seconds",
    "When this process last processed (or dead-lettered) a record, by consumer group.",
    ["group"],
)
CONSUMER_ASSIGNED = Gauge(
    "kafka_consumer_assigned_partitions", "Partitions this process holds, by consumer group.",
    ["group"],
)
GROUP_LAG = Gauge(
    "kafka_consumer_group_lag_records",
    "Records after the group's committed offset, read from the broker for every partition "
    "of its topics (each process of the group reports the same: take the max).",
    ["group", "topic", "partition"],
)
