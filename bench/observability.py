"""The cost of observability. Tracing is switched by the standard OTEL_* variables of a
restarted submissions service; Prometheus metrics cannot be switched off in
prometheus-client, so their cost is measured directly: what one request records,
timed in this process, against the server CPU time one request takes."""

from __future__ import annotations

import time

# Tracing set-ups, from none at all to every span written to a file as it ends (the
# exporter the tests use: a synchronous write per span).
TRACING: dict[str, dict[str, str]] = {
    "off": {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "none"},
    "spans, not exported": {"OTEL_TRACES_EXPORTER": "none"},
    "file, all spans": {"OTEL_TRACES_EXPORTER": "file", "OTEL_TRACES_SAMPLER": "always_on"},
    "file, 10% sampled": {"OTEL_TRACES_EXPORTER": "file",
                          "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                          "OTEL_TRACES_SAMPLER_ARG": "0.1"},
}
# Every variable any set-up sets, so switching to another set-up clears the others.
ALL_VARIABLES = sorted({k for env in TRACING.values() for k in env} | {"OTEL_TRACES_FILE"})


def tracing_env(name: str, traces_file: str) -> dict[str, str | None]:
    """The variables of one set-up; None unsets a variable another set-up set."""
    env: dict[str, str | None] = dict.fromkeys(ALL_VARIABLES)
    env.update(TRACING[name])
    env["OTEL_TRACES_FILE"] = traces_file
    return env


def metrics_seconds_per_request(iterations: int = 20000) -> float:
    """What one POST /v1/submissions records in Prometheus metrics: the HTTP middleware's
    counter and histogram and the producer's counter (services/common)."""
    from services.common import metrics

    started = time.perf_counter()
    for _ in range(iterations):
        metrics.HTTP_REQUESTS.labels("POST", "/v1/submissions", "202").inc()
        metrics.HTTP_LATENCY.labels("POST", "/v1/submissions").observe(0.01)
        metrics.EVENTS_PRODUCED.labels("emulation.submissions.v1").inc()
    return (time.perf_counter() - started) / iterations


def span_seconds(exporter: str, path: str, iterations: int = 3000) -> float:
    """What one span costs in this process, made as the services make them (the SDK's
    TracerProvider, always sampled): `off` the API's no-op tracer, `none` made and not
    exported, `file` written by services.common.telemetry's file exporter (its batch
    processor flushed inside the timing, so the writing counts)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from services.common.telemetry import file_span_processor

    provider: TracerProvider | None = None
    if exporter == "off":
        tracer: trace.Tracer = trace.NoOpTracer()
    else:
        provider = TracerProvider(shutdown_on_exit=False)
        if exporter == "file":
            provider.add_span_processor(file_span_processor(path))
        tracer = provider.get_tracer("bench")
    attributes: dict[str, str | int] = {"http.request.method": "POST", "emulation.period": 2079}
    started = time.perf_counter()
    for _ in range(iterations):
        with tracer.start_as_current_span("POST /v1/submissions", attributes=attributes):
            pass
    if provider is not None:
        provider.force_flush()
    elapsed = time.perf_counter() - started
    if provider is not None:
        provider.shutdown()
    return elapsed / iterations


def spans_per_request(traces_file: str, root: str = "POST /v1/submissions") -> float:
    """Spans per traced intake request, from what the file exporter wrote."""
    import json
    from collections import Counter

    per_trace: Counter[str] = Counter()
    roots: set[str] = set()
    try:
        with open(traces_file, encoding="utf-8") as fh:
            for line in fh:
                span = json.loads(line)
                per_trace[span["trace_id"]] += 1
                if span["name"] == root:
                    roots.add(span["trace_id"])
    except FileNotFoundError:
        return float("nan")
    counts = sorted(per_trace[t] for t in roots)
    return float(counts[len(counts) // 2]) if counts else float("nan")
