"""Kafka plumbing: an acks=all producer of envelopes, the faust app factory, the record
loop every agent uses (trace context, schema check, retries, dead letters), the one
decoder of a record's event, and the bounded replay of topics (rebuilds, rescores)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypedDict, Unpack

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from services.common import event_types, metrics, schemas
from services.common.contracts import DeadLetter, DeadLetterHeader
from services.common.envelope import EnvelopeError, Event, new_event, parse_record
from services.common.failures import PERMANENT_KAFKA, TransientError, backoff, is_transient
from services.common.faults import IN_RECORD, FaultPoints
from services.common.kafka_auth import KafkaAuth
from services.common.ports import Producer
from services.common.telemetry import extract_context, inject_headers
from services.common.watch import ConsumerWatch

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
MAX_LETTER_HEADERS, MAX_LETTER_HEADER_CHARS = 64, 4096
# The CloudEvents Kafka protocol binding: a structured-mode record says so.
STRUCTURED = ("content-type", b"application/cloudevents+json; charset=UTF-8")


class KafkaUnavailable(TransientError):
    """Kafka did not acknowledge in time: nothing may be confirmed to the caller."""


class RejectionExtra(TypedDict, total=False):
    """What a rejection adds to its dead letter."""
    errors: list[object]  # the record's schema or field errors
    why: str  # an unauthenticated record: why its proof failed
    key_id: str  # an unauthenticated record: the key it names
    size: int  # a record too large: its value's bytes
    limit: int  # a record too large: the consumer's limit


class RejectedLetter(DeadLetter, RejectionExtra):
    """A dead letter as the record loop writes it: the schema's members and the
    rejection's extras (the schema lets a letter carry more members)."""


class Rejected(ValueError):
    """A record that can never be processed: it goes to the dead-letter topic."""

    def __init__(self, reason: str, detail: str, **extra: Unpack[RejectionExtra]) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.extra = reason, detail, extra


class EventProducer:
    """Produces envelopes with acks=all and idempotence; starts lazily, so a service
    comes up (not ready) while Kafka is down and recovers when it returns."""

    faults: FaultPoints | None = None  # set by fault tests' runtimes only

    def __init__(self, bootstrap: str, client_id: str, timeout: float = 10.0,
                 auth: KafkaAuth | None = None) -> None:
        self.bootstrap, self.client_id, self.timeout = bootstrap, client_id, timeout
        self.auth = auth or KafkaAuth()
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _get(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap.split(","), client_id=self.client_id,
                    acks="all", enable_idempotence=True, linger_ms=2,
                    request_timeout_ms=int(self.timeout * 1000), **self.auth.aiokafka(),
                )
                try:
                    await asyncio.wait_for(producer.start(), self.timeout)
                except (KafkaError, OSError, TimeoutError) as exc:
                    await producer.stop()
                    raise KafkaUnavailable(f"cannot reach Kafka: {exc!r}") from exc
                self._producer = producer
        return self._producer

    async def send(self, topic: str, event: Event, key: str | None = None) -> None:
        """Return once every in-sync replica has the record; raise KafkaUnavailable."""
        if self.faults is not None:
            await self.faults.hit("before-produce", topic)
        await self.confirm(topic, await self.send_nowait(topic, event, key))
        if self.faults is not None:
            await self.faults.hit("after-produce", topic)

    async def confirm(self, topic: str, fut: asyncio.Future[Any]) -> None:
        """Wait for a queued record's acknowledgement. On timeout the record stays queued
        (shielded): the producer may still deliver it once Kafka is back."""
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.timeout)
        except PERMANENT_KAFKA:  # the record, not Kafka: waiting would change nothing
            metrics.PRODUCE_FAILURES.labels(topic).inc()
            raise
        except (KafkaError, TimeoutError) as exc:
            metrics.PRODUCE_FAILURES.labels(topic).inc()
            raise KafkaUnavailable(f"Kafka did not acknowledge on {topic}: {exc!r}") from exc
        metrics.EVENTS_PRODUCED.labels(topic).inc()

    async def send_nowait(
        self, topic: str, event: Event, key: str | None = None
    ) -> asyncio.Future[Any]:
        """Queue one record and return its delivery future (for batching)."""
        producer = await self._get()
        try:
            return await asyncio.wait_for(
                producer.send(topic, event.to_bytes(), key=(key or event.subject).encode(),
                              headers=[STRUCTURED, *inject_headers()]),
                self.timeout,
            )
        except PERMANENT_KAFKA:
            metrics.PRODUCE_FAILURES.labels(topic).inc()
            raise
        except (KafkaError, TimeoutError) as exc:
            metrics.PRODUCE_FAILURES.labels(topic).inc()
            raise KafkaUnavailable(f"cannot produce to {topic}: {exc!r}") from exc

    async def ready(self) -> None:
        producer = await self._get()
        await asyncio.wait_for(producer.client.fetch_all_metadata(), self.timeout)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class StaticMembership(TypedDict, total=False):
    """The faust option that makes a process a static member of its group."""
    consumer_group_instance_id: str


def make_faust_app(app_id: str, bootstrap: str, instance_id: str | None = None,
                   auth: KafkaAuth | None = None) -> faust.App:
    """A faust app that only consumes: no web server, no tables, no leader topic.
    `instance_id` makes the process a static member of its group (KIP-345)."""
    brokers = ";".join(f"kafka://{b}" for b in bootstrap.split(","))
    # Static membership: a process restarted under the same id takes its predecessor's
    # place without a rebalance. Opt-in: with it a partition taken over from a killed
    # worker went unfetched more often in the fault suite (docs/faults.md).
    static: StaticMembership = {"consumer_group_instance_id": instance_id} if instance_id else {}
    return faust.App(
        app_id, broker=brokers, web_enabled=False, store="memory://", autodiscover=False,
        topic_allow_declare=False, topic_disable_leader=True,
        consumer_auto_offset_reset="earliest", broker_commit_interval=1.0,
        producer_acks=-1, stream_wait_empty=False,
        # A crashed worker's partitions move to a live one within ~10 s (faust's
        # default session is 60 s: a restarted service would sit idle that long).
        broker_session_timeout=10.0, broker_heartbeat_interval=3.0,
        broker_rebalance_timeout=20.0, broker_credentials=(auth or KafkaAuth()).faust(),
        **static,
    )


Handler = Callable[[Event], Awaitable[None]]
Flush = Callable[[], Awaitable[None]]


def raw_topic(app: faust.App, name: str) -> Any:
    """A topic of `app` whose keys and values reach the agent as bytes: the record loop
    decodes and checks them itself (and dead-letters what it cannot)."""
    return app.topic(name, value_serializer="raw", key_serializer="raw")


async def gather_or_cancel(jobs: Any) -> None:
    """Await every job; if one raises (only cancellation can), cancel the others."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class RecordLoop:
    """Processes each record of an agent's stream exactly as the platform promises:
    permanent failures go to a dead-letter topic with the reason and the partition
    moves on; transient failures (database or Kafka down) are retried with backoff
    and never skipped; a record is acknowledged (its offset may be committed) only
    after its writes are done or its dead letter is acknowledged by Kafka."""

    def __init__(self, *, consumer: str, producer: Producer, dead_letter_topic: str,
                 source: str, handler_retries: int = 3,
                 max_value_bytes: int | None = None, watch: ConsumerWatch | None = None,
                 batch_size: int = 200, concurrency: int = 200,
                 faults: FaultPoints | None = None,
                 admit: Callable[[Any], None] | None = None) -> None:
        self.consumer, self.producer = consumer, producer
        self.dead_letter_topic, self.source = dead_letter_topic, source
        self.handler_retries = handler_retries
        self.max_value_bytes = max_value_bytes
        self.watch = watch
        self.batch_size, self.concurrency = max(1, batch_size), max(1, concurrency)
        self.faults = faults
        # Checks a record before it is parsed (the intake's proof of the unit); raises
        # Rejected to dead-letter it.
        self.admit = admit

    async def run(self, stream: Any, handler: Handler, *, flush: Flush | None = None) -> None:
        """Process the stream in batches: the records already fetched (up to
        `batch_size`) are handled together, records of one key in order and different
        keys concurrently (`concurrency` at a time); then `flush` writes what the
        handlers staged for the batch (coalesced writes); only then are the batch's
        records acknowledged. A lone record is handled at once (no waiting to fill a
        batch), so batching costs no latency when the topic is quiet."""
        # faust acks an event in its iterator's `finally`, so also when the body is
        # cancelled (shutdown, rebalance) half-way, and `take_events` acks its whole
        # buffer in a `finally` too: a noack stream acked here instead leaves such
        # records unacknowledged, to be redelivered.
        manual = stream.noack()
        queue = getattr(getattr(manual, "channel", None), "queue", None)
        batch: list[Any] = []
        async for ev in manual.events():
            batch.append(ev)
            if len(batch) < self.batch_size and queue is not None and not queue.empty():
                continue  # more already fetched: take it into this batch
            started = time.perf_counter()
            if self.watch is not None:
                self.watch.busy += 1
            try:
                await self.process_batch([e.message for e in batch], handler, flush)
            finally:
                if self.watch is not None:
                    self.watch.busy -= 1
            for done in batch:
                await manual.ack(done)
            metrics.BATCH_SIZE.labels(self.consumer).observe(len(batch))
            metrics.BATCH_SECONDS.labels(self.consumer).observe(time.perf_counter() - started)
            batch = []
            if self.watch is not None:
                self.watch.progressed()

    async def process_batch(self, messages: list[Any], handler: Handler,
                            flush: Flush | None = None) -> None:
        """Handle or dead-letter every record of a batch, then flush; raises only when
        cancelled (the batch then stays unacknowledged)."""
        by_key: dict[Any, list[Any]] = {}
        for message in messages:
            by_key.setdefault(message.key, []).append(message)
        if len(by_key) == 1 or self.concurrency <= 1:
            for message in messages:
                await self.process(message, handler)
        else:
            slots = asyncio.Semaphore(self.concurrency)

            async def in_order(group: list[Any]) -> None:
                async with slots:
                    for message in group:
                        await self.process(message, handler)

            await gather_or_cancel(in_order(group) for group in by_key.values())
        if flush is not None:
            await self._flush(flush, messages[0].topic)
        await self.fault("before-ack")

    async def _flush(self, flush: Flush, topic: str) -> None:
        """The batch's staged writes: retried until they are done (they are the
        service's own coalesced writes, which no record can make fail for good)."""
        attempt = 0
        while True:
            try:
                await flush()
                return
            except Exception as exc:
                attempt += 1
                metrics.RETRIES.labels(topic).inc()
                if self.watch is not None:
                    self.watch.retrying()
                log.warning("batch flush failed, retrying", extra={"fields": {
                    "topic": topic, "attempt": attempt, "error": repr(exc)[:300],
                    "transient": is_transient(exc)}})
                await asyncio.sleep(backoff(attempt))

    async def fault(self, step: str) -> None:
        """A failure armed by a fault test at this step (never set in production)."""
        if self.faults is not None:
            await self.faults.hit(step)

    async def process(self, message: Any, handler: Handler) -> None:
        """Handle or dead-letter one record; raises only when cancelled."""
        topic = message.topic
        try:
            ctx = extract_context(message.headers)
        except Exception:  # garbage headers: no trace to continue, the record still counts
            ctx = None
        with tracer.start_as_current_span(f"{topic} process", context=ctx, kind=SpanKind.CONSUMER,
                                          attributes={"messaging.destination.name": topic,
                                                      "messaging.consumer.group.name":
                                                          self.consumer}):
            try:
                event = self._decode(message)
                await self._call(handler, event, topic)
            except Rejected as exc:
                await self._dead_letter(message, exc)
                metrics.EVENTS_CONSUMED.labels(topic, "dead-lettered").inc()
                return
            metrics.EVENTS_CONSUMED.labels(topic, "processed").inc()
            _observe_delay(topic, event.time)

    def _decode(self, message: Any) -> Event:
        try:
            return self._check(message)
        except Rejected:
            raise
        except Exception as exc:  # anything else a value can make the parser do
            raise Rejected("bad-envelope", f"undecodable value: {repr(exc)[:500]}") from exc

    def _check(self, message: Any) -> Event:
        size = len(message.value or b"")
        if self.max_value_bytes is not None and size > self.max_value_bytes:
            # Refused before parsing: nothing the platform produces is this big.
            raise Rejected("too-large", f"record value of {size} bytes is over this "
                           f"consumer's limit of {self.max_value_bytes} bytes",
                           size=size, limit=self.max_value_bytes)
        if self.admit is not None:
            self.admit(message)
        event = decode_record(message.value, message.headers)
        return dataclasses.replace(event, appended_at=appended_at(message))

    async def _call(self, handler: Handler, event: Event, topic: str) -> None:
        attempt, failures = 0, 0
        while True:
            try:
                in_record = IN_RECORD.set(True)
                try:
                    await self.fault("before-handler")  # as if its first write failed
                    await handler(event)
                finally:
                    IN_RECORD.reset(in_record)
                return
            except Rejected:
                raise
            except Exception as exc:
                if is_transient(exc):
                    # The store, Kafka or the disk is away: wait for it, however long.
                    attempt += 1
                    metrics.RETRIES.labels(topic).inc()
                    if self.watch is not None:
                        self.watch.retrying()
                    log.warning("transient failure, retrying", extra={"fields": {
                        "topic": topic, "event_id": event.id, "attempt": attempt,
                        "error": repr(exc)[:300]}})
                    await asyncio.sleep(backoff(attempt))
                    continue
                failures += 1
                metrics.RETRIES.labels(topic).inc()
                log.exception("handler failed", extra={"fields": {
                    "topic": topic, "event_id": event.id, "failures": failures}})
                if failures >= self.handler_retries:
                    raise Rejected("handler-error", repr(exc)[:500]) from exc
                await asyncio.sleep(backoff(failures, base=0.05, cap=1.0))

    async def _dead_letter(self, message: Any, exc: Rejected) -> None:
        letter = self._letter(message, exc, value_chars=100_000)
        key = letter.data["key"]
        # A dead letter is never dropped: retried while Kafka is away; one Kafka refuses
        # for its size goes again with less of the value, so the partition moves on.
        attempt = 0
        while True:
            try:
                await self.producer.send(self.dead_letter_topic, letter, key=key or None)
                break
            except Exception as failure:
                attempt += 1
                if self.watch is not None:
                    self.watch.retrying()
                if not is_transient(failure) and not letter.data.get("value_cut"):
                    letter = self._letter(message, exc, value_chars=1000)
                    letter.data["value_cut"] = True
                log.warning("dead letter not acknowledged, retrying", extra={"fields": {
                    "topic": message.topic, "attempt": attempt, "error": repr(failure)[:300]}})
                await asyncio.sleep(backoff(attempt))
        metrics.DLQ_RECORDS.labels(message.topic, exc.reason).inc()
        log.warning("record dead-lettered", extra={"fields": {
            "topic": message.topic, "partition": message.partition,
            "offset": message.offset, "reason": exc.reason, "detail": exc.detail[:300]}})

    def _letter(self, message: Any, exc: Rejected, value_chars: int) -> Event:
        text, encoding = _text(message.value or b"")
        key = _text(message.key)[0] if message.key else ""
        data: RejectedLetter = {
            "consumer": self.consumer, "topic": message.topic,
            "partition": message.partition, "offset": message.offset, "key": key,
            "reason": exc.reason, "detail": exc.detail[:2000],
            "value": text[:value_chars], "value_encoding": encoding,
            "headers": _headers(message.headers), **exc.extra,
        }
        return new_event(type=event_types.DEAD_LETTER, source=self.source,
                         subject=key or "unknown", schema="dead-letter", data=data)


def decode_record(value: bytes | None, headers: Any = None) -> Event:
    """A record's event as every reader of the topics takes it (the live record loop, a
    rebuild, a rescore): its envelope (structured or binary mode) and then the event's
    own schema; `Rejected` with the reason otherwise."""
    try:
        event = parse_record(value, headers)
        name = f"{event.schema_name}.v{event.schema_version}"
        try:
            found = schemas.errors(name, event.to_dict())
        except KeyError as exc:
            raise Rejected("unknown-schema", f"no schema {name} for {event.type}") from exc
    except Rejected:
        raise
    except EnvelopeError as exc:
        raise Rejected("bad-envelope", str(exc)) from exc
    except Exception as exc:  # anything else a value can make the parser do
        raise Rejected("bad-envelope", f"undecodable value: {repr(exc)[:500]}") from exc
    if found:
        raise Rejected("schema-violation", "; ".join(
            f"{e.field}: {e.message}" for e in found[:5]),
            errors=[e.to_dict() for e in found[:20]])
    return event


ReplayRecord: TypeAlias = "ConsumerRecord[bytes, bytes]"
Batch: TypeAlias = dict[TopicPartition, list[ReplayRecord]]


class BoundedReplay:
    """Every record of `topics` from the beginning up to the end offsets taken when it
    starts (records produced meanwhile are the live consumers'), read by a consumer of
    its own (no group, nothing committed) and bounded in time: past `limit_seconds` from
    its start it raises TimeoutError. `async with BoundedReplay(...) as replay:` then
    `replay.end_offsets` and `async for batch in replay.batches():` (the records of one
    fetch by partition, each partition's in order)."""

    def __init__(self, bootstrap: str, topics: Iterable[str], *, client_id: str,
                 limit_seconds: float, auth: KafkaAuth | None = None,
                 max_records: int = 500) -> None:
        """`max_records`: at most this many records per batch (and a fetch of each
        partition large enough for them, at about 2 KB a record)."""
        self.topics, self.limit_seconds = list(topics), limit_seconds
        self.max_records = max(1, max_records)
        self.end_offsets: dict[TopicPartition, int] = {}
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap.split(","), group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", client_id=client_id,
            max_partition_fetch_bytes=max(1 << 20, self.max_records * 2048),
            **(auth or KafkaAuth()).aiokafka())
        self._deadline = 0.0

    async def __aenter__(self) -> BoundedReplay:
        self._deadline = time.monotonic() + self.limit_seconds
        consumer = self._consumer
        try:
            await asyncio.wait_for(consumer.start(), self.limit_seconds)
            partitions = [TopicPartition(topic, p) for topic in self.topics
                          for p in sorted(await self._partitions(topic))]
            consumer.assign(partitions)
            self.end_offsets = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
        except BaseException:
            await consumer.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def _partitions(self, topic: str) -> set[int]:
        while True:
            # A consumer without subscriptions keeps no metadata of its own: ask the cluster.
            cluster = await self._consumer._client.fetch_all_metadata()
            found = cluster.partitions_for_topic(topic)
            if found:
                return set(found)
            if time.monotonic() > self._deadline:
                raise TimeoutError(f"topic {topic} has no partitions")
            await asyncio.sleep(0.2)

    async def batches(self) -> AsyncIterator[Batch]:
        consumer, ends = self._consumer, self.end_offsets
        pending = {tp for tp, end in ends.items() if end > 0}
        consumer.pause(*(set(ends) - pending))  # empty: nothing to fetch
        while pending:
            if time.monotonic() > self._deadline:
                raise TimeoutError(
                    f"replay not finished after {self.limit_seconds:.0f} s; partitions "
                    f"left: {sorted(str(tp) for tp in pending)}")
            fetched = await consumer.getmany(*pending, timeout_ms=500,
                                             max_records=self.max_records)
            batch = {tp: kept for tp, records in fetched.items()
                     if (kept := [r for r in records if r.offset < ends[tp]])}
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)  # read up to its end: fetch no more of it
            if batch:
                yield batch


def _text(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode(), "base64"


def _headers(headers: Any) -> list[DeadLetterHeader]:
    """The record's headers as the dead letter keeps them (trace context included)."""
    pairs = list((headers.items() if hasattr(headers, "items") else headers) or ())
    kept: list[DeadLetterHeader] = []
    for name, value in pairs[:MAX_LETTER_HEADERS]:
        raw = value if isinstance(value, bytes) else str(value or "").encode()
        text, encoding = _text(raw)
        kept.append({"key": str(name)[:256], "value": text[:MAX_LETTER_HEADER_CHARS],
                     "value_encoding": encoding})
    return kept


LOG_APPEND_TIME = 1  # a record's timestamp type: set by the broker, not the producer


def appended_at(message: Any) -> datetime | None:
    """When the broker appended the record, if its topic stamps records so
    (`message.timestamp.type=LogAppendTime`); a producer's own timestamp proves nothing."""
    if getattr(message, "timestamp_type", None) != LOG_APPEND_TIME or not message.timestamp:
        return None
    return datetime.fromtimestamp(message.timestamp, UTC)


def _observe_delay(topic: str, event_time: str) -> None:
    try:
        then = datetime.fromisoformat(event_time).timestamp()
    except ValueError:
        return
    metrics.EVENT_LAG.labels(topic).observe(max(0.0, time.time() - then))
