"""Kafka helpers of the pipeline benchmark: produce a batch of records, note the end
offsets before it, and read exactly those records back with a raw aiokafka consumer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.common.kafka_auth import KafkaAuth
from services.common.settings import ServiceSettings


def auth() -> KafkaAuth:
    """The benchmarks' principal, from EMULATION_KAFKA_* (bench/stack.py sets the admin's)."""
    return ServiceSettings().kafka_auth()


@dataclass(frozen=True)
class Produced:
    topic: str
    start: dict[int, int]  # partition -> first offset of the batch
    end: dict[int, int]  # partition -> offset after the batch
    started: float  # time.perf_counter() when the first record was handed over
    elapsed: float  # until every record was acknowledged (acks=all)

    @property
    def count(self) -> int:
        return sum(self.end[p] - self.start.get(p, 0) for p in self.end)


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                **auth().aiokafka())
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p)
                 for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not parts:
            await consumer._client.force_metadata_update()  # first contact: no metadata yet
            parts = [TopicPartition(topic, p)
                     for p in sorted(consumer.partitions_for_topic(topic) or [])]
        ends = await consumer.end_offsets(parts)
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def produce(bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes]],
                  headers: Sequence[list[tuple[str, bytes]]] | None = None) -> Produced:
    """Send (key, value) records as fast as the producer batches them, acks=all;
    `headers`: one list per record (the unit's proof on the Kafka way in)."""
    start = await end_offsets(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5,
                                max_batch_size=256 * 1024, **auth().aiokafka())
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=key,
                                       headers=headers[i] if headers else None)
                   for i, (key, value) in enumerate(records)]
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    end = await end_offsets(bootstrap, topic)
    return Produced(topic=topic, start=start, end=end, started=started, elapsed=elapsed)


async def raw_consume(bootstrap: str, batch: Produced) -> float:
    """Read exactly the batch's records with a bare aiokafka consumer (assigned
    partitions, no group, no processing); seconds from the first fetch to the last record
    (one fetch often brings a whole small batch, so "first record" would read as 0)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024,
                                **auth().aiokafka())
    await consumer.start()
    try:
        parts = [TopicPartition(batch.topic, p) for p in batch.end]
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, batch.start.get(tp.partition, 0))
        wanted, seen = batch.count, 0
        deadline = time.monotonic() + 120
        started = time.perf_counter()
        while seen < wanted and time.monotonic() < deadline:
            got = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in got.items():
                stop = batch.end[tp.partition]
                for record in records:
                    if record.offset < stop:
                        seen += 1
                if records and records[-1].offset >= stop - 1:
                    consumer.pause(tp)
        elapsed = time.perf_counter() - started
        if seen < wanted:
            raise RuntimeError(f"raw consumer read {seen} of {wanted} records")
        return elapsed
    finally:
        await consumer.stop()


async def commit_offsets(bootstrap: str, group: str, offsets: dict[str, dict[int, int]]
                         ) -> None:
    """Start a new consumer group at the given offsets (topic -> partition -> offset), so
    a faust worker of that group reads exactly from there."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, **auth().aiokafka())
    await consumer.start()
    try:
        parts = {TopicPartition(t, p): off for t, po in offsets.items() for p, off in po.items()}
        consumer.assign(list(parts))
        await consumer.commit(parts)
    finally:
        await consumer.stop()
