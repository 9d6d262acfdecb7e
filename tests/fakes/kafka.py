"""The Kafka producer as the services see it (`Producer` and `BatchProducer` in
services/common/ports.py), in memory: what it took, and the failures a test asks for."""

from __future__ import annotations

import asyncio
from typing import Any

from services.common.envelope import Event
from services.common.kafka import KafkaUnavailable


class FakeProducer:
    """`records`: (topic, event) of each record taken, in order; `tries`: the id of each
    event offered. A send fails with the next of `failures` if any, with KafkaUnavailable
    while `down`, or when its key is in `failing` (a partition without a leader)."""

    def __init__(self, failures: list[BaseException] | None = None) -> None:
        self.records: list[tuple[str, Event]] = []
        self.tries: list[str] = []
        self.failures = list(failures or [])
        self.down = False
        self.failing: set[str] = set()

    @property
    def events(self) -> list[Event]:
        return [event for _, event in self.records]

    @property
    def ids(self) -> list[str]:
        return [event.id for _, event in self.records]

    async def send_nowait(self, topic: str, event: Event, key: str | None = None
                          ) -> asyncio.Future[Any]:
        self.tries.append(event.id)
        if self.failures:
            raise self.failures.pop(0)
        if self.down:
            raise KafkaUnavailable("down")
        if key in self.failing:
            raise KafkaUnavailable("no leader for the partition")
        event.to_bytes()  # what the real producer would encode
        self.records.append((topic, event))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    async def confirm(self, topic: str, fut: asyncio.Future[Any]) -> None:
        await fut

    async def send(self, topic: str, event: Event, key: str | None = None) -> None:
        await self.confirm(topic, await self.send_nowait(topic, event, key))
