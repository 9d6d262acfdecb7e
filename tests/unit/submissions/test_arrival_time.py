"""A request is judged by when it reached the platform: the clock's reading at a past
instant, the broker's append time of a record, and the intake's rules over both."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.common.clock import Clock, ControlledClock
from services.common.kafka import appended_at
from services.common.topics import SUBMISSION_REQUESTS, TOPICS
from services.submissions import domain
from services.submissions.domain import SubmissionRefused
from tests.unit.submissions_support import intake, intake_db, request

DEADLINE = domain.deadline_for(2026)


def test_a_real_clock_reads_the_instant_itself() -> None:
    wall = datetime(2026, 11, 30, 16, 59, tzinfo=UTC)
    assert Clock().at(wall) == wall


def test_a_controlled_clock_remembers_what_it_showed() -> None:
    clock = ControlledClock()
    before = datetime.now(UTC)
    clock.set(DEADLINE - timedelta(minutes=5))
    set_at = datetime.now(UTC)
    clock.set(DEADLINE + timedelta(days=3))
    # An instant between the two settings reads as the first one showed it then.
    assert abs(clock.at(set_at) - (DEADLINE - timedelta(minutes=5))) < timedelta(seconds=1)
    assert clock.now() > DEADLINE + timedelta(days=3) - timedelta(seconds=1)
    # Before its first setting the clock only lacked one: that setting holds from the
    # start (a process restarted and then set reads a record appended while it was down
    # as the environment's clock showed it, not on the real date).
    early = clock.at(before - timedelta(hours=1))
    assert abs(early - (DEADLINE - timedelta(minutes=5) - timedelta(hours=1))) \
        < timedelta(seconds=2)


def test_a_clock_never_set_is_real_time() -> None:
    clock = ControlledClock()
    then = datetime.now(UTC) - timedelta(hours=1)
    assert clock.at(then) == then
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_a_frozen_clock_reads_its_frozen_time_for_every_instant_it_stood() -> None:
    clock = ControlledClock()
    frozen = DEADLINE - timedelta(seconds=1)
    clock.set(frozen, frozen=True)
    stood = datetime.now(UTC)
    clock.reset()
    assert clock.at(stood) == frozen
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_only_a_broker_timestamp_is_an_arrival() -> None:
    when = datetime(2026, 11, 30, 16, 59, 59, 123000, tzinfo=UTC)
    broker = SimpleNamespace(timestamp=when.timestamp(), timestamp_type=1)
    producer = SimpleNamespace(timestamp=when.timestamp(), timestamp_type=0)
    assert appended_at(broker) == when
    # A producer's CreateTime could say anything: no arrival, judged when consumed.
    assert appended_at(producer) is None
    assert appended_at(SimpleNamespace(timestamp=None, timestamp_type=1)) is None


def test_the_request_topic_is_stamped_by_the_broker() -> None:
    spec = next(t for t in TOPICS if t.name == SUBMISSION_REQUESTS)
    assert spec.config["message.timestamp.type"] == "LogAppendTime"


def test_a_request_that_arrived_before_the_deadline_is_on_time_and_amendable() -> None:
    db, clock = intake_db(), ControlledClock()
    service = intake(db, clock=clock)
    clock.set(DEADLINE - timedelta(minutes=1))
    arrived = datetime.now(UTC)
    # Consumed a day later: the clock has moved on meanwhile.
    clock.set(DEADLINE + timedelta(days=1))

    async def scenario() -> None:
        first = await service.submit(request(), "event:1", arrived_at=arrived)
        assert first.receipt.on_time
        assert first.receipt.received_at <= DEADLINE
        assert abs(first.receipt.received_at - (DEADLINE - timedelta(minutes=1))) < timedelta(
            seconds=2)
        # An amendment that arrived before the deadline needs no unlock.
        second = await service.submit(request(notes="b"), "event:2", arrived_at=arrived)
        assert second.receipt.revision == 2 and second.receipt.on_time
        # One that arrives now is after the deadline.
        with pytest.raises(SubmissionRefused) as refused:
            await service.submit(request(notes="c"), "event:3")
        assert refused.value.code == "deadline-passed"

    asyncio.run(scenario())
    stored = db["submissions"].docs[domain.submission_id("province:quang-ninh", 2026, 1)]
    assert json.loads(json.dumps(stored["event"]))["data"]["on_time"] is True


def test_an_arrival_in_the_future_counts_as_now() -> None:
    clock = ControlledClock()
    service = intake(intake_db(), clock=clock)
    clock.set(DEADLINE + timedelta(hours=1))
    ahead = datetime.now(UTC) + timedelta(hours=2)  # a broker clock running fast
    assert service.received_at(ahead) <= domain.to_millis(service.clock.now())
    assert service.received_at(ahead) > DEADLINE
