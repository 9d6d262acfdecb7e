"""OpenTelemetry tracing, configured by the standard OTEL_* variables.

OTEL_TRACES_EXPORTER: `none` (default), `console`, `otlp` (OTLP over HTTP, configured
by OTEL_EXPORTER_OTLP_ENDPOINT and friends) or `file` (JSON lines to OTEL_TRACES_FILE,
where `{service}` is replaced by the service name; used by the tests).
Sampling follows OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (the SDK reads them).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)

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
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "file":
        path = os.environ.get("OTEL_TRACES_FILE", "traces-{service}.jsonl").format(
            service=service)
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
    trace.set_tracer_provider(provider)
    return provider


def file_span_processor(path: str) -> BatchSpanProcessor:
    """The file exporter behind a batch processor: spans are written by a background
    thread every 200 ms (and at exit), not on the request's or the record's path, where
    opening and appending per span cost a cheap consumer a third of its rate."""
    return BatchSpanProcessor(JsonLinesSpanExporter(path), schedule_delay_millis=200)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers() -> list[tuple[str, bytes]]:
    """W3C trace context of the current span, as Kafka headers."""
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
