"""Checked by mypy (`packages` in pyproject.toml): the fakes are what the services' ports
(services/common/ports.py) ask for, so a port that grows a call the fakes lack fails the
lint, not a test far away."""

from __future__ import annotations

from services.common.clock import Clock
from services.common.ports import BatchProducer, Database
from tests.fakes.clock import FixedClock
from tests.fakes.kafka import FakeProducer
from tests.fakes.mongo import FakeDatabase


def as_ports(db: FakeDatabase, producer: FakeProducer, clock: FixedClock
             ) -> tuple[Database, BatchProducer, Clock]:
    return db, producer, clock
