"""Consumer lag per partition: a process reports the partitions it holds, and stops
reporting those it lost in a rebalance (the autoscaler sums these series)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from kafka import TopicPartition
from prometheus_client import REGISTRY

from services.common import metrics
from services.common.runtime import Runtime
from services.common.watch import ConsumerWatch

TOPIC = "test.lag.v1"


class FakeConsumer:
    def __init__(self, ends: dict[int, int], committed: dict[int, int]) -> None:
        self.ends, self._committed_offset = ends, {
            TopicPartition(TOPIC, p): o for p, o in committed.items()}

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC, p) for p in self.ends}

    async def highwaters(self, *tps: TopicPartition) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp.partition] for tp in tps}

    async def position(self, tp: TopicPartition) -> int:
        return 0


def lag(partition: int) -> float | None:
    return REGISTRY.get_sample_value(metrics.CONSUMER_LAG._name,
                                     {"topic": TOPIC, "partition": str(partition)})


def runtime(consumer: FakeConsumer) -> Runtime:
    app = SimpleNamespace(started=True, consumer=consumer)
    fields: dict[str, Any] = dict(settings=None, clock=None, tokens=None, producer=None,
                                  mongo=None, db=None, faust_app=app,
                                  watch=ConsumerWatch("emulation-test", 120.0))
    return Runtime(**fields)


def test_lag_of_partitions_lost_in_a_rebalance_is_no_longer_reported() -> None:
    rt = runtime(FakeConsumer({0: 10, 1: 7, 2: 3}, {0: 4, 1: 6, 2: 2}))
    asyncio.run(rt.observe_lag())
    assert (lag(0), lag(1), lag(2)) == (5.0, 0.0, 0.0)
    rt.faust_app.consumer = FakeConsumer({1: 9}, {1: 6})  # partitions 0 and 2 went away
    asyncio.run(rt.observe_lag())
    assert (lag(0), lag(1), lag(2)) == (None, 2.0, None)
    rt.faust_app.consumer = FakeConsumer({}, {})
    asyncio.run(rt.observe_lag())
    assert lag(1) is None
