"""OpenTelemetry tracing, configured by the standard OTEL_* variables.

OTEL_TRACES_EXPORTER: a comma-separated list of `otlp` (the specification's default: OTLP
over HTTP, configured by OTEL_EXPORTER_OTLP_ENDPOINT and friends), `console`, `none`, or
`file` (JSON lines to OTEL_TRACES_FILE, where `{service}` is replaced by the service
name; used by the tests). The local stack sets `none` unless told otherwise.
OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the service; the service's own name
is only the fallback. Sampling follows OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG and
OTEL_SDK_DISABLED=true turns tracing off (the SDK reads them).

The spans come from the OpenTelemetry instrumentation packages: FastAPI (server spans),
pymongo (one span per database command, also of the async client), aiokafka (a
producer span per record, its context in the record's `traceparent` header) and httpx
(outgoing HTTP). Faust fetches through aiokafka's fetcher, not `getone`/`getmany`, so the
consumer side is RecordLoop's own processing span, a child of the producer span.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler

log = logging.getLogger(__name__)
KafkaHeaders = Sequence[tuple[str, bytes]]


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span as one JSON line; safe across processes (O_APPEND)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for s in spans:
            ctx = s.get_span_context()
            parent = s.parent
            lines.append(json.dumps({
                "name": s.name,
                "service": s.resource.attributes.get("service.name"),
                "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
                "span_id": f"{ctx.span_id:016x}" if ctx else None,
                "parent_id": f"{parent.span_id:016x}" if parent else None,
                "attributes": dict(s.attributes or {}),
            }, default=str))
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        return SpanExportResult.SUCCESS


def setup_tracing(service: str) -> TracerProvider:
    provider = TracerProvider(resource=service_resource(service), sampler=default_sampler())
    name = str(provider.resource.attributes.get(SERVICE_NAME, service))
    for exporter in exporters():
        if exporter == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif exporter == "file":
            path = os.environ.get("OTEL_TRACES_FILE", "traces-{service}.jsonl").format(
                service=name)
            provider.add_span_processor(file_span_processor(path))
        elif exporter == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )
            except ImportError:
                log.warning("OTEL_TRACES_EXPORTER=otlp but no OTLP exporter is installed")
            else:
                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif exporter != "none":
            log.warning("unknown OTEL_TRACES_EXPORTER entry ignored",
                        extra={"fields": {"exporter": exporter}})
    trace.set_tracer_provider(provider)
    instrument_libraries()
    return provider


def default_sampler() -> Sampler | None:
    """None (the SDK reads OTEL_TRACES_SAMPLER, parent-based always-on by default), unless
    no span would go anywhere (OTEL_TRACES_EXPORTER=none, `make up`'s default) and no
    sampler is asked for: then spans are not recorded (parent-based always-off). Their
    ids are still made and propagated (logs, audit records, `traceparent` to the
    services downstream, whose sampling an upstream decision still drives), but the
    instrumentations' hooks skip their work: the intake's CPU per request then costs what
    it costs with tracing off (docs/benchmarks.md)."""
    if os.environ.get("OTEL_TRACES_SAMPLER") or any(e != "none" for e in exporters()):
        return None
    return ParentBased(ALWAYS_OFF)


def service_resource(service: str) -> Resource:
    """The SDK's resource from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; `service`
    names the service only when neither does (the specification's precedence)."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    return resource


def exporters() -> list[str]:
    """OTEL_TRACES_EXPORTER as a list; `otlp` when unset, as the specification says."""
    raw = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    return [e.strip().lower() for e in raw.split(",") if e.strip()] or ["otlp"]


def tracing_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def instrument_libraries() -> None:
    """pymongo, aiokafka's producer and httpx, once per process (they patch the
    libraries globally); FastAPI apps are instrumented one by one (`instrument_app`)."""
    if tracing_disabled():
        return
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    for instrumentor in (PymongoInstrumentor(), AIOKafkaInstrumentor(),
                         HTTPXClientInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


# Probes and scrapes make no spans: they would drown the traces that matter.
EXCLUDED_URLS = "/healthz,/livez,/readyz,/metrics"


def instrument_app(app: Any) -> None:
    """Server spans for a FastAPI app (OTEL_PYTHON_FASTAPI_EXCLUDED_URLS or
    OTEL_PYTHON_EXCLUDED_URLS replace the default exclusions)."""
    if tracing_disabled():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    configured = (os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS")
                  or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS"))
    # No span per ASGI message (`http receive` / `http send`): two more per request
    # that say nothing the server span does not.
    FastAPIInstrumentor.instrument_app(app, excluded_urls=configured or EXCLUDED_URLS,
                                       exclude_spans=["receive", "send"])


def kafka_producer_instrumented() -> bool:
    """Whether aiokafka's producer spans and injects the trace context itself."""
    if tracing_disabled():
        return False
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor

    return bool(AIOKafkaInstrumentor().is_instrumented_by_opentelemetry)


def file_span_processor(path: str) -> BatchSpanProcessor:
    """The file exporter behind a batch processor: spans are written by a background
    thread every 200 ms (and at exit), not on the request's or the record's path, where
    opening and appending per span cost a cheap consumer a third of its rate."""
    return BatchSpanProcessor(JsonLinesSpanExporter(path), schedule_delay_millis=200)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers() -> list[tuple[str, bytes]]:
    """W3C trace context of the current span, as Kafka headers (where no instrumented
    producer adds it: a producer not set up by setup_tracing, as in unit tests)."""
    if kafka_producer_instrumented():
        return []
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(k, v.encode()) for k, v in carrier.items()]


def extract_context(headers: KafkaHeaders | None) -> Any:
    carrier = {}
    for key, value in headers or ():
        if isinstance(value, bytes | bytearray):
            carrier[key] = value.decode("latin-1")
        elif value is not None:
            carrier[key] = str(value)
    return propagate.extract(carrier)
