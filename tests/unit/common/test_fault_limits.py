"""The limits the fault suite relies on, without Kafka or Mongo: the in-flight limit of
an expensive route (429 at once, never a hang, places given back whatever happens) and
the record size limit of every consumer (dead-lettered as `too-large`, never parsed)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from services.common.auth import TokenStore, issue_credentials
from services.common.clock import ControlledClock
from services.common.envelope import Event, new_event
from services.common.http import InflightLimit, RouteQueueLimit, create_app
from services.common.kafka import RecordLoop
from services.common.problems import Problem
from services.common.settings import RECORD_ENVELOPE_ALLOWANCE, ServiceSettings
from tests.fakes.kafka import FakeProducer


@contextlib.asynccontextmanager
async def no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def limited_app(tmp_path: Path, limit: InflightLimit, gate: asyncio.Event,
                full: asyncio.Event) -> FastAPI:
    _, hashed = issue_credentials([])
    (tmp_path / "hashed.json").write_text(json.dumps(hashed))

    async def fine() -> None:
        return None

    app = create_app(title="t", lifespan=no_lifespan, tokens=TokenStore(tmp_path / "hashed.json"),
                     clock=ControlledClock(), readiness={"kafka": fine, "mongodb": fine},
                     max_body_bytes=1000)

    @app.post("/slow")
    async def slow(fail: bool = False) -> dict[str, int]:
        with limit.slot():
            if limit.inflight == limit.limit:
                full.set()
            await gate.wait()
            if fail:
                raise Problem(503, "unavailable", "the store is away")
            return {"inflight": limit.inflight}

    return app


def test_past_the_limit_the_answer_is_429_at_once_and_places_come_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        limit = InflightLimit("/slow", 3, min_retry_after=2)
        gate, full = asyncio.Event(), asyncio.Event()
        transport = httpx.ASGITransport(app=limited_app(tmp_path, limit, gate, full))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            held = [asyncio.create_task(c.post("/slow", params={"fail": i == 0}))
                    for i in range(3)]
            await asyncio.wait_for(full.wait(), 5)  # the three wait inside, on the gate
            # The fourth is refused while the three hold their places: no waiting.
            refused = await asyncio.wait_for(c.post("/slow"), 5)
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "2"
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["type"].endswith(":too-many-requests")
            assert refused.json()["limit"] == 3
            gate.set()
            answers = [await t for t in held]
            # A failure inside gives its place back like a success does.
            assert sorted(r.status_code for r in answers) == [200, 200, 503]
            assert limit.inflight == 0
            again = await c.post("/slow")
            assert again.status_code == 200
            metrics = (await c.get("/metrics")).text
            assert 'http_requests_shed_total{route="/slow"}' in metrics

    asyncio.run(scenario())


def test_past_the_queue_limit_the_answer_is_429_before_the_body_is_read(
        tmp_path: Path) -> None:
    """Requests of the route counted from their first byte: with `limit` of them waiting
    or in progress (here two uploads that have not finished), the next is refused at once
    and its body never read; the places come back as the requests end."""
    async def scenario() -> None:
        limit = InflightLimit("/slow", 5, min_retry_after=3)
        gate, full = asyncio.Event(), asyncio.Event()
        app = limited_app(tmp_path, limit, gate, full)
        app.add_middleware(RouteQueueLimit, method="POST", path="/slow", limit=2,
                           inflight=limit)
        uploaded, both_started = asyncio.Event(), asyncio.Event()
        reads: list[str] = []

        async def slow_body() -> AsyncIterator[bytes]:
            reads.append("held")
            if reads.count("held") == 2:
                both_started.set()
            await uploaded.wait()  # an upload that is not finished yet
            yield b""

        async def counted_body() -> AsyncIterator[bytes]:
            reads.append("refused")  # never read: the answer comes before
            yield b""

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            held = [asyncio.create_task(c.post("/slow", content=slow_body()))
                    for _ in range(2)]
            await asyncio.wait_for(both_started.wait(), 5)
            refused = await asyncio.wait_for(c.post("/slow", content=counted_body()), 5)
            assert refused.status_code == 429 and refused.headers["retry-after"] == "3"
            assert refused.json()["limit"] == 2
            assert "refused" not in reads and limit.inflight == 0  # no slot was taken
            other = await c.get("/metrics")  # another route passes
            assert other.status_code == 200
            uploaded.set()
            gate.set()
            assert [(await t).status_code for t in held] == [200, 200]
            assert (await c.post("/slow")).status_code == 200  # places given back

    asyncio.run(scenario())


def test_a_slow_upload_is_ended_with_408_and_the_connection_closed(tmp_path: Path) -> None:
    _, hashed = issue_credentials([])
    (tmp_path / "hashed.json").write_text(json.dumps(hashed))

    async def fine() -> None:
        return None

    app = create_app(title="t", lifespan=no_lifespan, tokens=TokenStore(tmp_path / "hashed.json"),
                     clock=ControlledClock(), readiness={"kafka": fine, "mongodb": fine},
                     max_body_bytes=1000, body_read_timeout=0.3)
    read: list[int] = []

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        read.append(len(await request.body()))
        return {"read": read[-1]}

    async def call(chunks: list[bytes], stall: bool) -> list[dict[str, Any]]:
        """One request over raw ASGI: these chunks, then (if `stall`) nothing more."""
        messages = [{"type": "http.request", "body": c, "more_body": stall or i < len(chunks) - 1}
                    for i, c in enumerate(chunks)]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)  # a client that sends nothing more
            return {"type": "http.disconnect"}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/upload", "raw_path": b"/upload",
                 "root_path": "", "query_string": b"", "server": ("t", 80),
                 "client": ("c", 1), "headers": [(b"content-length", b"100"),
                                                 (b"content-type", b"text/plain")]}
        await asyncio.wait_for(app(scope, receive, send), 5)
        return sent

    async def scenario() -> None:
        slow = await call([b'{"a": 1'], stall=True)
        start = next(m for m in slow if m["type"] == "http.response.start")
        assert start["status"] == 408
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        assert headers["connection"] == "close"
        assert headers["content-type"].startswith("application/problem+json")
        body = json.loads(b"".join(m.get("body", b"") for m in slow
                                   if m["type"] == "http.response.body"))
        assert body["type"].endswith(":request-timeout") and body["timeout_seconds"] == 0.3
        # A body that arrives in time, in pieces, is read whole; the limit is per request.
        fast = await call([b"x" * 40, b"y" * 60], stall=False)
        assert next(m for m in fast if m["type"] == "http.response.start")["status"] == 200
        assert read == [100]
        # A body that turns out longer than its Content-Length said, past the limit: 413.
        big = await call([b"x" * 600, b"y" * 600], stall=False)
        assert next(m for m in big if m["type"] == "http.response.start")["status"] == 413

    asyncio.run(scenario())


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        InflightLimit("/x", 0)


@dataclass
class Message:
    value: bytes
    topic: str = "emulation.submissions.v1"
    partition: int = 2
    offset: int = 41
    key: bytes = b"police:phu-tho"
    headers: tuple[Any, ...] = ()


def test_a_record_over_the_consumer_limit_is_dead_lettered_unparsed() -> None:
    producer = FakeProducer()
    loop = RecordLoop(consumer="scoring", producer=producer,
                      dead_letter_topic="emulation.dead-letters.v1", source="urn:test",
                      max_value_bytes=2000)
    handled: list[Event] = []

    async def handler(event: Event) -> None:
        handled.append(event)

    small = new_event(type="vn.emulation.unit.registered", source="urn:test",
                      subject="police:phu-tho", schema="unit-registered", data={"x": 1})
    huge = b'{"specversion": "1.0", "notes": "' + b"x" * 5000 + b'"}'
    asyncio.run(loop.process(Message(huge), handler))
    assert handled == []
    [(topic, letter)] = producer.records
    assert topic == "emulation.dead-letters.v1"
    assert letter.data["reason"] == "too-large"
    assert letter.data["size"] == len(huge) and letter.data["limit"] == 2000
    assert (letter.data["partition"], letter.data["offset"]) == (2, 41)
    # A small record still reaches the schema check (here: refused for its data).
    asyncio.run(loop.process(Message(small.to_bytes()), handler))
    assert producer.records[-1][1].data["reason"] != "too-large"


def test_the_default_record_limit_fits_any_accepted_body_but_not_kafkas_largest() -> None:
    settings = ServiceSettings()
    assert settings.record_limit() == settings.max_body_bytes + RECORD_ENVELOPE_ALLOWANCE
    # Kafka's default max.message.bytes (1 MiB + 12): an oversized record can be produced.
    assert settings.max_body_bytes < settings.record_limit() < 1_048_576
    assert ServiceSettings(max_record_bytes=5000).record_limit() == 5000
