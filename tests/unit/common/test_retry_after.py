"""Retry-After from the real state: the intake's queue for 429, how long the store or
Kafka has been away for 503, and the jitter advice in the OpenAPI description."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pymongo.errors import AutoReconnect

from services.common.backoff import JITTER_ADVICE, MAX_RETRY_AFTER, Outages
from services.common.http import InflightLimit
from services.common.problems import Problem
from services.submissions.service import Unavailable
from tests.fakes.kafka import FakeProducer
from tests.unit.submissions_support import intake, intake_db, request


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refuse(limit: InflightLimit) -> int:
    with pytest.raises(Problem) as refused, limit.slot():
        pass
    assert refused.value.status == 429
    return int(refused.value.headers["Retry-After"])


def test_429_retry_after_is_the_time_to_serve_those_waiting() -> None:
    ticks = Ticks()
    limit = InflightLimit("/x", 4, monotonic=ticks)
    # Requests have been taking 2 s each.
    with limit.slot():
        ticks.now += 2.0
    assert limit.service_seconds == 2.0
    held = [limit.slot() for _ in range(4)]
    for slot in held:
        slot.__enter__()
    # Four in progress, one refused: five to serve at four at once, 2 s each.
    assert refuse(limit) == 3  # ceil(5 * 2 / 4)
    # The queue grows with every refusal within the advised time...
    advised = [refuse(limit) for _ in range(15)]
    assert advised == sorted(advised) and advised[-1] == 10  # ceil(20 * 2 / 4)
    # ... and the refused who have had their time are no longer counted.
    ticks.now += 11
    assert refuse(limit) == 3
    for slot in held:
        slot.__exit__(None, None, None)
    assert limit.inflight == 0


def test_429_retry_after_stays_within_bounds() -> None:
    ticks = Ticks()
    limit = InflightLimit("/x", 1, monotonic=ticks)
    with limit.slot():
        ticks.now += 0.01
    with limit.slot():
        assert refuse(limit) == 1  # fast requests: still at least a second
    with limit.slot():
        ticks.now += 500  # a stuck one: at most the maximum
    with limit.slot():
        assert refuse(limit) == MAX_RETRY_AFTER


def test_503_retry_after_grows_with_the_outage_and_resets_when_it_ends() -> None:
    ticks = Ticks()
    outages = Outages(monotonic=ticks)
    assert outages.failed("kafka") == 2  # a blip: soon
    ticks.now += 30
    assert outages.away("kafka") == 30 and outages.failed("kafka") == 15
    ticks.now += 600
    assert outages.failed("kafka") == MAX_RETRY_AFTER
    assert outages.failed("mongodb") == 2  # each dependency on its own
    outages.recovered("kafka")
    assert outages.away("kafka") == 0 and outages.failed("kafka") == 2


def test_the_intake_advises_by_the_dependency_that_is_away() -> None:
    ticks = Ticks()
    producer, db = FakeProducer(), intake_db()
    service = intake(db, producer)
    service.outages = Outages(monotonic=ticks)

    async def submit(notes: str) -> int | None:
        try:
            await service.submit(request(notes=notes), notes)
        except Unavailable as exc:
            return exc.retry_after
        return None

    async def scenario() -> None:
        producer.down = True
        assert await submit("a") == 2
        ticks.now += 40
        assert await submit("b") == 20
        producer.down = False
        assert await submit("c") is None
        assert service.outages.away("kafka") == 0

        def away(op: str, flt: dict[str, Any]) -> None:
            raise AutoReconnect("connection refused")

        db["submission_keys"].before = away  # the database, at the request's first read
        assert await submit("d") == 2
        ticks.now += 10
        assert await submit("e") == 5

    asyncio.run(scenario())


def test_the_openapi_description_advises_jitter() -> None:
    from services.submissions.api import RETRY_AFTER_HEADER, build_router

    router = build_router(intake(intake_db()), InflightLimit("/v1/submissions", 8))
    post = next(r for r in router.routes if isinstance(r, APIRoute) and r.methods == {"POST"}
                and r.path == "/v1/submissions")
    for status in (429, 503):
        response = post.responses[status]
        assert JITTER_ADVICE in response["description"]
        assert response["headers"]["Retry-After"] == RETRY_AFTER_HEADER
    assert "random" in JITTER_ADVICE and "Idempotency-Key" in JITTER_ADVICE
