"""The file exporter writes spans from a background thread (not on the request's or the
record's path), every one of them once flushed, as JSON lines with their ids."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider

from services.common.telemetry import file_span_processor


def test_spans_are_written_in_batches_and_all_of_them_on_flush(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(file_span_processor(str(path)))
    tracer = provider.get_tracer("test")
    ids = []
    for n in range(50):
        with tracer.start_as_current_span(f"span-{n}") as span:
            ids.append(format(span.get_span_context().span_id, "016x"))
    assert provider.force_flush()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    provider.shutdown()
    assert sorted(line["name"] for line in lines) == sorted(f"span-{n}" for n in range(50))
    assert {line["span_id"] for line in lines} == set(ids)
