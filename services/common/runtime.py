"""What every service's composition root builds the same way: settings-driven clock,
tokens, tracing, logging, Kafka producer, faust app, database, and their lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import faust
import uvicorn
from fastapi import APIRouter, FastAPI, HTTPException
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from typing_extensions import TypedDict

from services.common import metrics
from services.common.audit import COLLECTION as AUDIT_COLLECTION
from services.common.audit import AuditLog
from services.common.auth import TokenStore
from services.common.clock import Clock, ControlledClock
from services.common.faults import FaultPoints
from services.common.http import AdminAction, AdminPrincipal, create_app
from services.common.kafka import EventProducer, RecordLoop, make_faust_app
from services.common.logs import setup_logging
from services.common.mongo import async_database, connect_odm, ping
from services.common.settings import ServiceSettings
from services.common.telemetry import setup_tracing
from services.common.topics import DEAD_LETTERS
from services.common.watch import BrokerLag, ConsumerWatch, Verdict

log = logging.getLogger(__name__)
Task = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Runtime:
    settings: ServiceSettings
    clock: Clock
    tokens: TokenStore
    producer: EventProducer
    mongo: AsyncMongoClient[Any]
    db: AsyncDatabase[Any]
    faust_app: faust.App
    watch: ConsumerWatch
    broker_lag: BrokerLag | None = None
    faults: FaultPoints | None = None  # only with EMULATION_FAULT_INJECTION (tests)
    documents: list[Any] = field(default_factory=list)
    background: list[Task] = field(default_factory=list)
    # Run at shutdown once the consumers have stopped, before the database closes
    # (e.g. writing what a service holds back to batch its writes).
    shutdown: list[Task] = field(default_factory=list)
    _lag_series: set[tuple[str, str]] = field(default_factory=set)

    @property
    def source(self) -> str:
        return f"urn:emulation:service:{self.settings.service_name}"

    def record_loop(self, consumer: str, dead_letter_topic: str = DEAD_LETTERS,
                    admit: Callable[[Any], None] | None = None) -> RecordLoop:
        return RecordLoop(consumer=consumer, producer=self.producer,
                          dead_letter_topic=dead_letter_topic, source=self.source,
                          max_value_bytes=self.settings.record_limit(), watch=self.watch,
                          batch_size=self.settings.consumer_batch_size,
                          concurrency=self.settings.consumer_concurrency,
                          faults=self.faults, admit=admit)

    def every(self, seconds: float, job: Task) -> None:
        """Run `job` every `seconds` while the service runs; failures are logged, not fatal."""
        async def loop() -> None:
            while True:
                try:
                    await job()
                except Exception:
                    log.exception("periodic job failed", extra={"fields": {"job": job.__name__}})
                await asyncio.sleep(seconds)
        self.background.append(loop)

    @contextlib.asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        await _retrying("database indexes", lambda: asyncio.to_thread(
            connect_odm, self.settings.mongo_url, self.settings.mongo_db, self.documents))
        tasks = [asyncio.create_task(job()) for job in self.background]
        # Faust joins its consumer group in the background: the API answers meanwhile
        # and /readyz tells whether Kafka is reachable.
        tasks.append(asyncio.create_task(_retrying("faust", self.faust_app.start)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.faust_app.stop(), 15)
            for job in self.shutdown:
                try:
                    await asyncio.wait_for(job(), 10)
                except Exception:
                    log.exception("shutdown job failed", extra={"fields": {"job": job.__name__}})
            await self.producer.stop()
            if self.broker_lag is not None:
                await self.broker_lag.stop()
            await self.mongo.close()

    async def observe_progress(self) -> None:
        """The group's lag on every partition of its topics, from the broker, against the
        partitions this process holds: what /livez judges. Kafka away: no verdict."""
        topics = self.consumed_topics()
        if self.broker_lag is None or not topics:
            return
        started = getattr(self.faust_app, "started", False)
        held = self.faust_app.consumer.assignment() if started else set()
        try:
            lag = await self.broker_lag.read(self.faust_app.conf.id, topics)
        except Exception as exc:
            self.watch.lag_unknown(repr(exc))
            return
        self.watch.observe({(tp.topic, tp.partition) for tp in held}, lag)
        if held and self.watch.needs_nudge(self.settings.consumer_nudge_seconds):
            # Partitions held, records waiting, nothing handled: seek to the committed
            # offsets (what faust's recovery does after a rebalance), which restarts the
            # fetch of a wedged partition; /livez and a restart remain the last resort.
            self.watch.nudged()
            log.warning("consumer idle with records waiting: seeking to committed offsets",
                        extra={"fields": self.watch.verdict().detail})
            metrics.CONSUMER_NUDGES.labels(self.faust_app.conf.id).inc()
            await self.faust_app.consumer.perform_seek()

    def consumed_topics(self) -> set[str]:
        agents = getattr(self.faust_app, "agents", {})
        return {name for agent in agents.values()
                for name in getattr(agent.channel, "topics", ())}

    async def observe_lag(self) -> None:
        """Consumer lag per partition: records on Kafka not yet processed and committed."""
        if not getattr(self.faust_app, "started", False):
            return
        consumer = self.faust_app.consumer
        partitions = consumer.assignment()
        # A partition this process lost in a rebalance is another's to report: drop its
        # series, or the autoscaler would keep summing its last value.
        held = {(tp.topic, str(tp.partition)) for tp in partitions}
        for labels in self._lag_series - held:
            with contextlib.suppress(KeyError):
                metrics.CONSUMER_LAG.remove(*labels)
        self._lag_series = held
        if not partitions:
            return
        ends = await consumer.highwaters(*partitions)
        for tp in partitions:
            committed = consumer._committed_offset.get(tp)  # type: ignore[attr-defined]
            done = committed + 1 if committed is not None else await consumer.position(tp)
            if done is None or tp not in ends:
                continue
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                max(0, ends[tp] - done))

    def liveness(self) -> Verdict:
        return self.watch.verdict()

    def readiness(self) -> dict[str, Task]:
        return {"kafka": self.producer.ready, "mongodb": lambda: ping(self.db)}


async def _retrying(what: str, start: Callable[[], Awaitable[Any]]) -> None:
    delay = 0.5
    while True:
        try:
            await start()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("start failed, retrying", extra={"fields": {"part": what,
                                                                    "error": repr(exc)}})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)


def build_runtime(settings: ServiceSettings, documents: list[Any]) -> Runtime:
    setup_logging(settings.service_name, settings.log_level)
    setup_tracing(settings.service_name)
    mongo, db = async_database(settings.mongo_url, settings.mongo_db,
                                settings.mongo_serial_writes)
    group = f"emulation-{settings.service_name}"
    runtime = Runtime(
        settings=settings,
        clock=ControlledClock() if settings.clock_control else Clock(),
        tokens=TokenStore(settings.credentials_file),
        producer=EventProducer(settings.kafka_bootstrap, settings.service_name,
                               settings.produce_timeout_seconds, auth=settings.kafka_auth()),
        mongo=mongo, db=db,
        faust_app=make_faust_app(group, settings.kafka_bootstrap, settings.group_instance_id,
                                 auth=settings.kafka_auth()),
        watch=ConsumerWatch(group, settings.consumer_stall_seconds),
        broker_lag=BrokerLag(settings.kafka_bootstrap, settings.service_name,
                             auth=settings.kafka_auth()),
        faults=FaultPoints() if settings.fault_injection else None,
        documents=documents,
    )
    runtime.producer.faults = runtime.faults
    runtime.every(5.0, runtime.observe_lag)
    runtime.every(10.0, runtime.observe_progress)
    return runtime


def http_app(runtime: Runtime, title: str) -> FastAPI:
    app = create_app(title=title, lifespan=runtime.lifespan, tokens=runtime.tokens,
                     clock=runtime.clock, readiness=runtime.readiness(),
                     liveness=runtime.liveness,
                     max_body_bytes=runtime.settings.max_body_bytes,
                     body_read_timeout=runtime.settings.body_read_timeout_seconds,
                     audit=AuditLog(runtime.db[AUDIT_COLLECTION]),
                     service_name=runtime.settings.service_name)
    if runtime.settings.fault_injection:
        app.include_router(fault_router(runtime))
    return app


class FaultArmed(TypedDict):
    """A fault armed for a fault test (typing_extensions: FastAPI's response model)."""
    armed: str
    kind: str
    times: int
    topic: str | None


def fault_router(runtime: Runtime) -> APIRouter:
    """For fault tests: a consumer that holds its partitions and fetches nothing, as
    after the restart stall (docs/faults.md); /livez must notice and the supervisor act."""
    router = APIRouter(tags=["ops"], include_in_schema=False)

    @router.post("/v1/admin/faults/stall-consumer")
    async def stall_consumer(_: AdminAction) -> dict[str, list[str]]:
        consumer = runtime.faust_app.consumer
        held = consumer.assignment()
        consumer.pause_partitions(held)
        return {"paused": sorted(f"{tp.topic}[{tp.partition}]" for tp in held)}

    @router.post("/v1/admin/faults/arm")
    async def arm(_: AdminAction, step: str, kind: str, times: int = 1,
                  topic: str | None = None) -> FaultArmed:
        """Fail the next `times` passes through `step` (of records of `topic`)."""
        assert runtime.faults is not None
        try:
            runtime.faults.arm(step, kind, times, topic)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"armed": step, "kind": kind, "times": times, "topic": topic}

    @router.get("/v1/admin/faults")
    async def hits(_: AdminPrincipal) -> dict[str, int]:
        assert runtime.faults is not None
        return dict(runtime.faults.hits)

    return router


KEEP_ALIVE_SECONDS = 30


def serve(factory: str, settings: ServiceSettings) -> None:
    """Run the service's app factory (`module:function`) under uvicorn."""
    # Keep idle connections open longer than clients keep them in their pools (httpx and
    # most HTTP clients: 5 s, uvicorn's default too): with equal timeouts a client may send
    # a request on a connection the server is closing at that instant, and gets a reset.
    uvicorn.run(factory, factory=True, host=settings.http_host, port=settings.http_port,
                log_config=None, access_log=False, timeout_graceful_shutdown=10,
                timeout_keep_alive=KEEP_ALIVE_SECONDS)
