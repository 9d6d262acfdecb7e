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


OUTGOING = """
import asyncio, http.server, json, sys, threading
import httpx
from opentelemetry import trace
from services.common.telemetry import setup_tracing

class Ok(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps(self.headers.get("traceparent")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
threading.Thread(target=server.serve_forever, daemon=True).start()
provider = setup_tracing("notifications")

async def send():
    with trace.get_tracer("t").start_as_current_span("notifications.provider.send"):
        async with httpx.AsyncClient() as client:
            r = await client.post(f"http://127.0.0.1:{server.server_port}/sms", json={})
            r.raise_for_status()
            print(r.json())

asyncio.run(send())
provider.force_flush()
"""


def test_outgoing_http_gets_a_client_span_inside_the_caller_s(tmp_path: Path) -> None:
    """The httpx instrumentation, as setup_tracing installs it (a process of its own: the
    instrumentations patch libraries for the whole process)."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    path = tmp_path / "{service}.jsonl"
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "file", "OTEL_TRACES_FILE": str(path),
           "OTEL_SERVICE_NAME": "notifications-test"}
    env.pop("OTEL_SDK_DISABLED", None)
    done = subprocess.run([sys.executable, "-c", OUTGOING], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    spans = [json.loads(line) for line in
             (tmp_path / "notifications-test.jsonl").read_text().splitlines()]
    [caller] = [s for s in spans if s["name"] == "notifications.provider.send"]
    [client] = [s for s in spans if s["name"] == "POST"]
    assert client["parent_id"] == caller["span_id"]
    assert client["trace_id"] == caller["trace_id"]
    attributes = client["attributes"]
    assert 200 in (attributes.get("http.response.status_code"),
                   attributes.get("http.status_code")), attributes
    # The server was told the client span as its parent (W3C traceparent).
    [traceparent] = done.stdout.split()
    assert traceparent.startswith(f"00-{client['trace_id']}-{client['span_id']}-")


@pytest.mark.parametrize("env, recording", [
    ({"OTEL_TRACES_EXPORTER": "none"}, False),  # nothing exports: spans not recorded
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_TRACES_SAMPLER": "always_on"}, True),
    ({"OTEL_TRACES_EXPORTER": "file"}, True),
    ({}, True),  # otlp, the specification's default
])
def test_spans_nobody_exports_are_not_recorded_but_keep_their_ids(
        monkeypatch: pytest.MonkeyPatch, env: dict[str, str], recording: bool) -> None:
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

    from services.common.telemetry import default_sampler

    for name in ("OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    provider = TracerProvider(sampler=default_sampler(), shutdown_on_exit=False)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        ctx = span.get_span_context()
        assert span.is_recording() is recording
        assert ctx.is_valid and ctx.trace_id != 0  # logs and audit records still get it
    # A sampled parent from upstream keeps its trace recorded (parent-based).
    parent = SpanContext(trace_id=7, span_id=9, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with tracer.start_as_current_span(
            "child", context=set_span_in_context(NonRecordingSpan(parent))) as child:
        assert child.is_recording()
        assert child.get_span_context().trace_id == 7
    provider.shutdown()
