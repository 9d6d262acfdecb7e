"""The file exporter writes spans from a background thread (not on the request's or the
record's path), every one of them once flushed, as JSON lines with their ids; the
standard OTEL_* variables name the service and choose the exporter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from services.common.telemetry import exporters, file_span_processor, service_resource


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


@pytest.mark.parametrize("env, expected", [
    ({}, "submissions"),
    ({"OTEL_SERVICE_NAME": "intake-eu"}, "intake-eu"),
    ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=intake-x,deployment.environment=t"},
     "intake-x"),
    ({"OTEL_SERVICE_NAME": "intake-eu", "OTEL_RESOURCE_ATTRIBUTES": "service.name=x"},
     "intake-eu"),
])
def test_the_service_name_comes_from_the_otel_variables_first(
        monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str) -> None:
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert service_resource("submissions").attributes["service.name"] == expected


@pytest.mark.parametrize("value, expected", [
    (None, ["otlp"]), ("", ["otlp"]), ("none", ["none"]), ("file, Console", ["file", "console"]),
])
def test_the_exporter_defaults_to_otlp_as_the_specification_says(
        monkeypatch: pytest.MonkeyPatch, value: str | None, expected: list[str]) -> None:
    if value is None:
        monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    else:
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", value)
    assert exporters() == expected
