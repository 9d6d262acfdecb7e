"""Whether a service's consumers make progress: the partitions it holds, each partition's
lag as the broker sees it (so a dead or wedged consumer's lag still shows), and when it
last processed a record. /livez fails on a stall, and the supervisor restarts it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NotRequired, TypedDict, final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common import metrics
from services.common.kafka_auth import KafkaAuth

log = logging.getLogger(__name__)
Partition = tuple[str, int]


class ConsumerProgress(TypedDict):
    """What /livez and /readyz say of a consumer group's progress (and its stall logs)."""
    group: str
    assigned: list[str]  # "topic[partition]" held by this process
    lag: int  # records waiting on the held partitions
    group_lag: int  # records waiting on all the group's partitions
    seconds_since_progress: float
    stall_limit_seconds: float
    seconds_since_retry: NotRequired[float]
    lag_error: NotRequired[str]  # the lag could not be read (Kafka away): no verdict
    problems: NotRequired[list[str]]  # why it is not live


@final
class NoConsumers(TypedDict):
    """The detail of a service that runs no consumer: `{}`."""


@dataclass(frozen=True)
class Verdict:
    live: bool
    detail: ConsumerProgress | NoConsumers

    @property
    def problems(self) -> list[str]:
        """Why it is not live (none when it is)."""
        if "problems" in self.detail:
            return self.detail["problems"]
        return []


class ConsumerWatch:
    """Progress of one consumer group in this process. Stalled: records wait on a held
    partition and none was processed for `stall_seconds`; orphaned: the group has work
    and this process held no partition for as long. Both only judged on a lag read."""

    def __init__(self, group: str, stall_seconds: float,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.group, self.stall_seconds, self.now = group, stall_seconds, now
        started = now()
        self.last_progress = started  # the start counts: a fresh process has a grace
        self.last_caught_up = started  # last time nothing waited on a held partition
        self.last_held = started  # last time this process held a partition, or none had work
        self.assigned: set[Partition] = set()
        self.lag: dict[Partition, int] = {}
        self.lag_read_at: float | None = None
        self.lag_error: str | None = None
        self.last_retry: float | None = None
        self.stalled = False
        self.busy = 0  # batches being handled now
        self.last_nudge = started
        # From the start, so the stalled-consumer alert has a series to compare with.
        metrics.CONSUMER_PROGRESS.labels(group).set_to_current_time()

    def progressed(self) -> None:
        """A record was processed and acknowledged (written or dead-lettered)."""
        self.last_progress = self.now()
        metrics.CONSUMER_PROGRESS.labels(self.group).set_to_current_time()

    def retrying(self) -> None:
        """A record waits for the database or Kafka: the consumer is alive, and a restart
        would not bring the dependency back (readiness and alerts report it)."""
        self.last_retry = self.now()

    def observe(self, assigned: Iterable[Partition], lag: dict[Partition, int]) -> None:
        now = self.now()
        self.assigned, self.lag, self.lag_read_at, self.lag_error = set(assigned), lag, now, None
        if sum(lag.get(tp, 0) for tp in self.assigned) == 0:
            self.last_caught_up = now
        if self.assigned or sum(lag.values()) == 0:
            self.last_held = now
        metrics.CONSUMER_ASSIGNED.labels(self.group).set(len(self.assigned))
        for (topic, partition), records in lag.items():
            metrics.GROUP_LAG.labels(self.group, topic, str(partition)).set(records)
        # Logged once per stall, with what /livez says: a fault test that times out
        # then shows in the service's log whether its consumer was the cause.
        verdict = self.verdict()
        if verdict.live == self.stalled:
            self.stalled = not verdict.live
            log.log(logging.WARNING if self.stalled else logging.INFO,
                    "consumer stalled" if self.stalled else "consumer moves again",
                    extra={"fields": verdict.detail})

    def needs_nudge(self, seconds: float) -> bool:
        """Records wait on a held partition, nothing is being handled, and nothing moved
        for `seconds` (nor since the last nudge): the fetcher may be wedged (the restart
        stall, docs/faults.md). A seek to the committed offsets is then cheap and safe."""
        now = self.now()
        idle = now - max(self.last_progress, self.last_caught_up, self.last_retry or 0.0,
                         self.last_nudge)
        held_lag = sum(self.lag.get(tp, 0) for tp in self.assigned)
        return held_lag > 0 and self.busy == 0 and self.lag_error is None and idle > seconds

    def nudged(self) -> None:
        self.last_nudge = self.now()

    def lag_unknown(self, error: str) -> None:
        self.lag_error = error[:300]

    def verdict(self) -> Verdict:
        now = self.now()
        held_lag = sum(self.lag.get(tp, 0) for tp in self.assigned)
        stalled = now - max(self.last_progress, self.last_caught_up, self.last_retry or 0.0)
        orphaned = 0.0 if self.assigned or not self.lag else now - self.last_held
        detail: ConsumerProgress = {
            "group": self.group,
            "assigned": sorted(f"{t}[{p}]" for t, p in self.assigned),
            "lag": held_lag, "group_lag": sum(self.lag.values()),
            "seconds_since_progress": round(now - self.last_progress, 1),
            "stall_limit_seconds": self.stall_seconds,
        }
        if self.last_retry is not None:
            detail["seconds_since_retry"] = round(now - self.last_retry, 1)
        problems: list[str] = []
        if self.lag_error is not None:
            # Kafka itself is away: no verdict (a restart would not bring it back).
            detail["lag_error"] = self.lag_error
        elif held_lag > 0 and stalled > self.stall_seconds:
            problems.append(f"stalled: {held_lag} records wait on held partitions and none "
                            f"was processed for {stalled:.0f} s")
        elif orphaned > self.stall_seconds:
            problems.append(f"held no partition for {orphaned:.0f} s while the group had "
                            f"{sum(self.lag.values())} records waiting")
        if problems:
            detail["problems"] = problems
        return Verdict(live=not problems, detail=detail)


class BrokerLag:
    """Lag of a group per partition from the broker: its committed offsets against the
    partitions' ends, with clients of its own (not the group's, which may be wedged)."""

    def __init__(self, bootstrap: str, client_id: str, timeout: float = 10.0,
                 auth: KafkaAuth | None = None) -> None:
        self.bootstrap, self.client_id, self.timeout = bootstrap.split(","), client_id, timeout
        self.auth = auth or KafkaAuth()
        self._admin: AIOKafkaAdminClient | None = None
        self._ends: AIOKafkaConsumer | None = None

    async def read(self, group: str, topics: Iterable[str]) -> dict[Partition, int]:
        admin, ends = await self._clients()
        parts = [TopicPartition(t["topic"], p["partition"])
                 for t in await asyncio.wait_for(admin.describe_topics(sorted(topics)),
                                                 self.timeout)
                 for p in t.get("partitions", ())]
        committed = await asyncio.wait_for(
            admin.list_consumer_group_offsets(group, partitions=parts), self.timeout)
        last = await asyncio.wait_for(ends.end_offsets(parts), self.timeout)
        done = {tp: o.offset for tp, o in committed.items() if o.offset >= 0}
        # No commit yet: everything from the log's start waits (earliest reset).
        fresh = [tp for tp in parts if tp not in done]
        if fresh:
            done.update(await asyncio.wait_for(ends.beginning_offsets(fresh), self.timeout))
        return {(tp.topic, tp.partition): max(0, last.get(tp, 0) - done.get(tp, 0))
                for tp in parts}

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._ends is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap,
                                        client_id=f"{self.client_id}-lag",
                                        **self.auth.aiokafka())
            ends = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                    client_id=f"{self.client_id}-lag",
                                    enable_auto_commit=False, **self.auth.aiokafka())
            try:
                await asyncio.wait_for(admin.start(), self.timeout)
                await asyncio.wait_for(ends.start(), self.timeout)
            except BaseException:
                await admin.close()
                await ends.stop()
                raise
            self._admin, self._ends = admin, ends
        return self._admin, self._ends

    async def stop(self) -> None:
        if self._admin is not None:
            await self._admin.close()
        if self._ends is not None:
            await self._ends.stop()
        self._admin = self._ends = None
