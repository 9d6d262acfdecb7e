"""RecordLoop classifies every failure of a record: transient ones are retried until
they pass (never skipped), permanent ones are dead-lettered with the reason, the value
and the headers, and a cancelled record is left unacknowledged. Fakes only."""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteConcernError,
)

from services.common import kafka
from services.common.envelope import Event
from services.common.failures import TransientError, backoff, is_transient
from services.common.kafka import KafkaUnavailable, RecordLoop
from tests.conftest import ROOT
from tests.fakes.kafka import FakeProducer

TOPIC = "emulation.units.v1"
HEADERS = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
           ("binary", b"\xff\x00")]


@dataclass
class Message:
    value: bytes | None
    topic: str = TOPIC
    partition: int = 1
    offset: int = 7
    key: bytes | None = b"police:phu-tho"
    headers: Any = ()


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka, "backoff", lambda *a, **k: 0.0)


def good() -> bytes:
    return (ROOT / "schemas/examples/unit-registered.json").read_bytes()


def loop(producer: FakeProducer) -> RecordLoop:
    return RecordLoop(consumer="scoring", producer=producer,
                      dead_letter_topic="emulation.dead-letters.v1", source="urn:test")


async def ok(event: Event) -> None:
    return None


def letters(producer: FakeProducer) -> list[dict[str, Any]]:
    return [event.data for _, event in producer.records]


def poison(kind: str) -> bytes:
    doc = json.loads(good())
    if kind == "dataschema-suffix":
        doc["dataschema"] = "urn:emulation:schema:unit-registered:vX"
        return json.dumps(doc).encode()
    text = json.dumps(doc, ensure_ascii=False)[:-1]
    if kind == "deep-nesting":
        return (text + ',"x":' + "[" * 50_000 + "]" * 50_000 + "}").encode()
    if kind == "huge-integer":
        return (text + ',"x":' + "7" * 5_000 + "}").encode()
    if kind == "not-utf-8":
        return b"\xff\xfe{"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["dataschema-suffix", "deep-nesting", "huge-integer",
                                  "not-utf-8"])
def test_each_poison_kind_is_dead_lettered_with_value_and_headers(kind: str) -> None:
    producer, handled = FakeProducer(), []

    async def handler(event: Event) -> None:
        handled.append(event)

    value = poison(kind)
    asyncio.run(loop(producer).process(Message(value, headers=HEADERS), handler))
    assert handled == []
    [letter] = letters(producer)
    assert letter["reason"] == "bad-envelope" and letter["detail"]
    assert (letter["topic"], letter["partition"], letter["offset"]) == (TOPIC, 1, 7)
    if letter["value_encoding"] == "utf-8":
        assert value.decode().startswith(letter["value"])
    assert letter["headers"] == [
        {"key": "traceparent", "value": HEADERS[0][1].decode(), "value_encoding": "utf-8"},
        {"key": "binary", "value": "/wA=", "value_encoding": "base64"}]


def test_a_binary_mode_record_is_handled_and_a_malformed_one_dead_lettered() -> None:
    """The CloudEvents Kafka binding's binary mode: attributes in `ce_*` headers, the
    value the data; schema-checked like a structured record."""
    producer, handled = FakeProducer(), []

    async def handler(event: Event) -> None:
        handled.append(event)

    doc = json.loads(good())
    headers = [("content-type", b"application/json"),
               *((f"ce_{k}", str(doc[k]).encode()) for k in (
                   "specversion", "id", "source", "type", "subject", "time", "dataschema"))]
    data = json.dumps(doc["data"], ensure_ascii=False).encode()
    asyncio.run(loop(producer).process(Message(data, headers=headers), handler))
    assert [e.id for e in handled] == [doc["id"]] and handled[0].data == doc["data"]
    bad = [h for h in headers if h[0] != "ce_type"]
    asyncio.run(loop(producer).process(Message(data, headers=bad), handler))
    unknown = [*headers[:-1], ("ce_dataschema", b"urn:emulation:schema:nothing:v1")]
    asyncio.run(loop(producer).process(Message(data, headers=unknown), handler))
    assert len(handled) == 1
    [missing, unknown_schema] = letters(producer)
    assert missing["reason"] == "bad-envelope"
    assert missing["detail"] == "binary mode: missing envelope attributes: type"
    assert unknown_schema["reason"] == "unknown-schema"
    assert {"key": "ce_specversion", "value": "1.0", "value_encoding": "utf-8"} in \
        missing["headers"]


@pytest.mark.parametrize("error", [
    AutoReconnect("connection refused"), NetworkTimeout("timed out"),
    ServerSelectionTimeoutError("no server"), ExecutionTimeout("time limit", 50),
    WriteConcernError("waiting for replication timed out", 64, {}),
    OperationFailure("database is locked (5) (SQLITE_BUSY)", 1),
    OperationFailure("database or disk is full", 13),
    BulkWriteError({"writeConcernErrors": [{"code": 64, "errmsg": "wtimeout"}],
                    "writeErrors": []}),
    OSError(errno.ENOSPC, "No space left on device"), ConnectionResetError("reset"),
    TimeoutError(), KafkaUnavailable("Kafka did not acknowledge"),
    KafkaConnectionError("no broker"), TransientError("kept changing"),
], ids=repr)
def test_a_transient_failure_is_retried_until_it_passes_never_dead_lettered(
        error: Exception) -> None:
    producer, calls = FakeProducer(), []

    async def handler(event: Event) -> None:
        calls.append(event)
        if len(calls) < 6:  # more than handler_retries: transient ones never run out
            raise error

    asyncio.run(loop(producer).process(Message(good()), handler))
    assert len(calls) == 6 and producer.records == []


@pytest.mark.parametrize("error", [
    ValueError("bad"), KeyError("unit_id"), RecursionError("deep"), TypeError("none"),
    DuplicateKeyError("E11000", 11000), OperationFailure("unknown operator $foo", 2),
    MessageSizeTooLargeError(),
], ids=repr)
def test_a_permanent_handler_failure_is_dead_lettered_after_a_few_tries(
        error: Exception) -> None:
    producer, calls = FakeProducer(), []

    async def handler(event: Event) -> None:
        calls.append(event)
        raise error

    asyncio.run(loop(producer).process(Message(good(), headers=HEADERS), handler))
    assert len(calls) == 3
    [letter] = letters(producer)
    assert letter["reason"] == "handler-error"
    assert type(error).__name__ in letter["detail"]
    assert letter["value"] == good().decode() and len(letter["headers"]) == 2


def test_a_dead_letter_is_retried_while_kafka_is_away_and_cut_if_refused_for_size() -> None:
    producer = FakeProducer([KafkaUnavailable("down"), KafkaUnavailable("down")])
    asyncio.run(loop(producer).process(Message(b"not an event"), ok))
    assert [d["reason"] for d in letters(producer)] == ["bad-envelope"]
    big = b"y" * 5000
    producer = FakeProducer([MessageSizeTooLargeError(), KafkaUnavailable("down")])
    asyncio.run(loop(producer).process(Message(big), ok))
    [letter] = letters(producer)
    assert letter["value_cut"] is True and letter["value"] == "y" * 1000


class FakeEvent:
    def __init__(self, message: Message) -> None:
        self.message = message


class FakeStream:
    """What RecordLoop.run uses of a faust stream: noack(), events(), ack()."""

    def __init__(self, messages: list[Message]) -> None:
        self.messages, self.acked, self.enable_acks = messages, [], True

    def noack(self) -> FakeStream:
        self.enable_acks = False
        return self

    async def events(self) -> AsyncIterator[FakeEvent]:
        assert not self.enable_acks, "faust would ack in its finally"
        for message in self.messages:
            yield FakeEvent(message)

    async def ack(self, event: FakeEvent) -> bool:
        self.acked.append(event.message.offset)
        return True


def test_records_are_acked_after_processing_and_a_cancelled_one_is_not() -> None:
    stream = FakeStream([Message(good(), offset=o) for o in (1, 2, 3)]
                        + [Message(b"poison", offset=4), Message(good(), offset=5)])
    producer, seen = FakeProducer(), []

    async def handler(event: Event) -> None:
        seen.append(event)
        if len(seen) == 3:
            raise asyncio.CancelledError  # shutdown, or a rebalance, mid-record

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(loop(producer).run(stream, handler))
    assert stream.acked == [1, 2]  # offset 3 stays unacknowledged: redelivered later
    assert producer.records == []

    stream, producer = FakeStream(stream.messages[2:]), FakeProducer()
    asyncio.run(loop(producer).run(stream, ok))
    assert stream.acked == [3, 4, 5]  # the poison one only once its dead letter is acked
    assert [d["offset"] for d in letters(producer)] == [4]


def test_classification_and_backoff() -> None:
    assert is_transient(OperationFailure("not primary", 10107))
    assert not is_transient(OperationFailure("bad query", 2))
    assert not is_transient(ValueError("Exceeds the limit (4300 digits)"))
    delays = [backoff(n) for n in range(1, 12)]
    assert all(0 < d <= 5.0 for d in delays) and delays[-1] >= 2.5
    assert len({backoff(3) for _ in range(20)}) > 1  # jitter


class Queue:
    """The faust channel's queue as RecordLoop looks at it: is more already fetched?"""

    def __init__(self, stream: BatchStream) -> None:
        self.stream = stream

    def empty(self) -> bool:
        return self.stream.position >= len(self.stream.messages)


class BatchStream(FakeStream):
    """A stream whose records were all fetched at once (its channel's queue is full)."""

    def __init__(self, messages: list[Message]) -> None:
        super().__init__(messages)
        self.position = 0
        self.channel = type("Channel", (), {})()
        self.channel.queue = Queue(self)

    async def events(self) -> AsyncIterator[FakeEvent]:
        for message in self.messages:
            self.position += 1
            yield FakeEvent(message)


def unit_event(unit: str, offset: int) -> Message:
    doc = json.loads(good())
    doc["subject"] = doc["data"]["unit_id"] = unit
    return Message(json.dumps(doc).encode(), offset=offset, key=unit.encode())


def batch_loop(producer: FakeProducer, size: int = 100, concurrency: int = 16) -> RecordLoop:
    return RecordLoop(consumer="scoring", producer=producer,
                      dead_letter_topic="emulation.dead-letters.v1", source="urn:test",
                      batch_size=size, concurrency=concurrency)


def test_a_batch_keeps_each_keys_order_runs_keys_together_and_acks_after_its_flush() -> None:
    units = ["police:a", "police:b", "police:c"]
    messages = [unit_event(units[i % 3], offset=i) for i in range(9)]
    messages.insert(4, Message(b"poison", offset=99, key=b"police:b"))
    stream, producer = BatchStream(messages), FakeProducer()
    order: dict[str, list[int]] = {u: [] for u in units}
    running, overlap, flushed = 0, 0, []

    async def handler(event: Event) -> None:
        nonlocal running, overlap
        running += 1
        overlap = max(overlap, running)
        await asyncio.sleep(0.001)
        order[event.subject].append(len(order[event.subject]))
        running -= 1

    async def flush() -> None:
        flushed.append(list(stream.acked))  # what was acknowledged before the flush

    asyncio.run(batch_loop(producer).run(stream, handler, flush=flush))
    assert flushed == [[]]  # one batch: nothing acknowledged before its flush
    assert sorted(stream.acked) == sorted(m.offset for m in messages)
    assert overlap == 3  # the three units at once, each unit's records one by one
    assert all(seen == [0, 1, 2] for seen in order.values())
    assert [d["offset"] for d in letters(producer)] == [99]  # the poison one alone


def test_batches_are_bounded_and_a_cancelled_batch_is_not_acknowledged() -> None:
    messages = [unit_event(f"police:u{i}", offset=i) for i in range(10)]
    stream, producer, seen = BatchStream(messages), FakeProducer(), []

    async def handler(event: Event) -> None:
        seen.append(event.subject)
        if len(seen) == 7:
            raise asyncio.CancelledError  # shutdown or a rebalance inside the 2nd batch

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(batch_loop(producer, size=4).run(stream, handler))
    assert sorted(stream.acked) == [0, 1, 2, 3]  # the first batch only


def test_a_failing_flush_is_retried_and_holds_the_acknowledgements() -> None:
    stream, producer = BatchStream([unit_event("police:a", 1), unit_event("police:b", 2)]), \
        FakeProducer()
    failures = [AutoReconnect("down"), RuntimeError("odd")]
    acked_at_flush = []

    async def flush() -> None:
        acked_at_flush.append(len(stream.acked))
        if failures:
            raise failures.pop(0)

    asyncio.run(batch_loop(producer).run(stream, ok, flush=flush))
    assert acked_at_flush == [0, 0, 0] and sorted(stream.acked) == [1, 2]


def test_injected_faults_are_classified_like_real_ones() -> None:
    from services.common.faults import FaultPoints

    faults = FaultPoints()
    producer, handled = FakeProducer(), []

    async def handler(event: Event) -> None:
        handled.append(event.id)

    record_loop = RecordLoop(consumer="scoring", producer=producer,
                             dead_letter_topic="emulation.dead-letters.v1",
                             source="urn:test", faults=faults)
    faults.arm("before-handler", "transient", times=2)
    asyncio.run(record_loop.process(unit_event("police:a", 1), handler))
    assert len(handled) == 1 and producer.records == [] and faults.hits == {"before-handler": 2}
    faults.arm("before-handler", "permanent", times=3)
    asyncio.run(record_loop.process(unit_event("police:b", 2), handler))
    assert len(handled) == 1
    [letter] = letters(producer)
    assert letter["reason"] == "handler-error" and "injected" in letter["detail"]
    with pytest.raises(ValueError):
        faults.arm("before-ack", "transient")
    # A produce step fires only for a record's own produce, not a background job's.
    faults.arm("before-produce", "permanent", topic="emulation.scores.v1")
    asyncio.run(faults.hit("before-produce", "emulation.scores.v1"))
    assert faults.hits.get("before-produce") is None
