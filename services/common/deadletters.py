"""The dead-letter topics, for an operator: list their records, show one, and replay one
to the topic it came from once the cause is fixed.

    python -m services.common.deadletters list [--topic T] [--reason R] [--json]
    python -m services.common.deadletters show TOPIC:PARTITION:OFFSET
    python -m services.common.deadletters replay TOPIC:PARTITION:OFFSET [--dry-run]

as the admin principal (EMULATION_KAFKA_USERNAME / EMULATION_KAFKA_PASSWORD, as
`services.common.topics`, or `--command-config` with a client.properties such as the
admin.properties devstack writes). A replay sends the original record again: its key,
its value (or the fixed one of `--value-file`) and all its headers (a Kafka-way
request's proof headers too: they sign the original value), plus
`emulation-replayed-from` naming the dead letter. Consumers are idempotent by the
CloudEvent `id`, so a replay sent twice is stored once. docs/operations.md."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from services.common.kafka_auth import KafkaAuth
from services.common.topics import DEAD_LETTERS, SUBMISSION_REQUESTS_DLQ

DLQ_TOPICS = (SUBMISSION_REQUESTS_DLQ, DEAD_LETTERS)
REPLAYED_FROM = "emulation-replayed-from"
POLL_MS = 1000
MAX_IDLE_POLLS = 30  # of POLL_MS each: Kafka away, the listing stops
# Bytes shown to a person (`_show`): the JSON they held, their text, or {"base64": ...}.
Shown = str | int | float | bool | None | list["Shown"] | dict[str, "Shown"]


@dataclass(frozen=True)
class Letter:
    """One record of a dead-letter topic and what its envelope says about the original."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    headers: list[tuple[str, bytes]]
    value: bytes

    @property
    def ref(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def data(self) -> dict[str, Any]:
        """The letter's `data` (empty for a record that is not a dead-letter event)."""
        try:
            event = json.loads(self.value)
        except ValueError:
            return {}
        data = event.get("data") if isinstance(event, dict) else None
        return data if isinstance(data, dict) else {}

    def summary(self) -> LetterSummary:
        data = self.data
        return {"ref": self.ref, "topic": self.topic, "partition": self.partition,
                "offset": self.offset,
                "time": datetime.fromtimestamp(self.timestamp_ms / 1000, UTC).isoformat(),
                "reason": data.get("reason", "unreadable"),
                "source_topic": data.get("topic"), "source_partition": data.get("partition"),
                "source_offset": data.get("offset"), "key": data.get("key"),
                "consumer": data.get("consumer"), "detail": str(data.get("detail", ""))[:200]}

    def original(self, cut_ok: bool = False) -> Original:
        """The record the letter holds, as it was produced; ValueError if it cannot be
        rebuilt (not a dead letter, or its value was cut and `cut_ok` is not given)."""
        data = self.data
        if not data.get("topic") or "value" not in data:
            raise ValueError(f"{self.ref} is not a dead letter of this platform")
        if data.get("value_cut") and not cut_ok:
            raise ValueError(f"{self.ref} holds only the first 1,000 characters of the "
                             "value (Kafka refused the whole): give the value (--value-file)")
        headers = [(str(h["key"]), _bytes(h["value"], h.get("value_encoding", "utf-8")))
                   for h in data.get("headers") or []]
        return Original(topic=str(data["topic"]), key=(data.get("key") or "").encode() or None,
                        value=_bytes(data["value"], data.get("value_encoding", "utf-8")),
                        headers=headers)


class LetterSummary(TypedDict):
    """A dead letter in a listing: where and when, why, and where its record came from
    (the source fields are the letter's own: absent from a record that is no letter)."""

    ref: str
    topic: str
    partition: int
    offset: int
    time: str
    reason: str
    source_topic: object
    source_partition: object
    source_offset: object
    key: object
    consumer: object
    detail: str


class RecordShown(TypedDict):
    """A record to send again, readable (text or base64, `_show`)."""

    topic: str
    key: Shown
    headers: dict[str, Shown]
    value: Shown


@dataclass(frozen=True)
class Original:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    def replay_of(self, letter: Letter, value: bytes | None = None) -> Original:
        """The record to send again: the original headers (a replay's own mark replaced)
        and a mark naming the letter."""
        kept = [(k, v) for k, v in self.headers if k != REPLAYED_FROM]
        return Original(self.topic, self.key, self.value if value is None else value,
                        [*kept, (REPLAYED_FROM, letter.ref.encode())])

    def describe(self) -> RecordShown:
        return {"topic": self.topic, "key": _show(self.key or b""),
                "headers": {k: _show(v) for k, v in self.headers},
                "value": _show(self.value)}


def _bytes(text: str, encoding: str) -> bytes:
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")


def _show(raw: bytes) -> Shown:
    """Bytes for a person: JSON parsed, text as text, anything else as base64."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode()}
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_ref(ref: str) -> tuple[str, int, int]:
    topic, sep, rest = ref.rpartition(":")
    topic, sep2, partition = topic.rpartition(":")
    if not (sep and sep2 and topic and partition.isdigit() and rest.isdigit()):
        raise argparse.ArgumentTypeError(f"{ref!r} is not TOPIC:PARTITION:OFFSET")
    return topic, int(partition), int(rest)


class DeadLetters:
    """Reads and replays through kafka-python (a CLI: no event loop needed)."""

    def __init__(self, bootstrap: str, auth: KafkaAuth) -> None:
        self.bootstrap, self.auth = bootstrap.split(","), auth

    def _consumer(self) -> Any:
        from kafka import KafkaConsumer

        return KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                             enable_auto_commit=False, client_id="deadletters",
                             **self.auth.kafka_python())

    def letters(self, topics: tuple[str, ...] = DLQ_TOPICS) -> Iterator[Letter]:
        """Every record of the topics, up to their end when the call began."""
        from kafka import TopicPartition

        consumer = self._consumer()
        try:
            parts = [TopicPartition(t, p) for t in topics
                     for p in sorted(consumer.partitions_for_topic(t) or ())]
            if not parts:
                return
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            ends = {tp: end for tp, end in consumer.end_offsets(parts).items() if end > 0}
            idle = 0
            while ends:
                batch = consumer.poll(timeout_ms=POLL_MS)
                if not batch:
                    idle += 1
                    if idle > MAX_IDLE_POLLS:
                        raise TimeoutError(f"no records from {sorted(map(str, ends))} "
                                           f"for {MAX_IDLE_POLLS} s: is Kafka up?")
                    # Nothing came: a partition's end may be a transaction marker or a
                    # deleted segment; its position says whether it is read out.
                    ends = {tp: e for tp, e in ends.items() if consumer.position(tp) < e}
                    continue
                idle = 0
                for tp, records in batch.items():
                    for r in records:
                        if tp in ends and r.offset < ends[tp]:
                            yield _letter(r)
                    if tp in ends and consumer.position(tp) >= ends[tp]:
                        del ends[tp]
        finally:
            consumer.close()

    def get(self, topic: str, partition: int, offset: int) -> Letter | None:
        from kafka import TopicPartition

        consumer = self._consumer()
        try:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, offset)
            for _ in range(10):
                for record in consumer.poll(timeout_ms=POLL_MS).get(tp, []):
                    if record.offset == offset:
                        return _letter(record)
                    if record.offset > offset:
                        return None
            return None
        finally:
            consumer.close()

    def send(self, record: Original) -> tuple[int, int]:
        """Produce with acks=all; the (partition, offset) Kafka gave it."""
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                 client_id="deadletters-replay", **self.auth.kafka_python())
        try:
            meta = producer.send(record.topic, key=record.key, value=record.value,
                                 headers=record.headers).get(timeout=30)
            return meta.partition, meta.offset
        finally:
            producer.close()


def _letter(record: Any) -> Letter:
    return Letter(topic=record.topic, partition=record.partition, offset=record.offset,
                  timestamp_ms=record.timestamp, headers=list(record.headers or []),
                  value=record.value or b"")


def _print(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def main(argv: list[str] | None = None, dead_letters: DeadLetters | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=None, help="default: EMULATION_KAFKA_BOOTSTRAP")
    parser.add_argument("--command-config", type=Path, default=None,
                        help="a client.properties with the admin's credentials (and "
                             "bootstrap.servers), as for Kafka's tools; default: the "
                             "EMULATION_KAFKA_* variables")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="the dead letters: where from, why, when")
    listing.add_argument("--topic", action="append", choices=DLQ_TOPICS,
                         help="one dead-letter topic (default: all)")
    listing.add_argument("--reason", help="only letters with this reason")
    listing.add_argument("--source", help="only letters from this topic")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    show = sub.add_parser("show", help="one letter: the original headers and value")
    show.add_argument("ref", type=parse_ref, help="TOPIC:PARTITION:OFFSET (from `list`)")
    replay = sub.add_parser("replay", help="send a letter's record to its source topic")
    replay.add_argument("ref", type=parse_ref, help="TOPIC:PARTITION:OFFSET (from `list`)")
    replay.add_argument("--dry-run", action="store_true", help="say what would be sent")
    replay.add_argument("--value-file", type=Path,
                        help="send this value instead (a fixed record; a Kafka-way "
                             "request's proof headers sign the original value)")
    args = parser.parse_args(argv)
    if dead_letters is None:
        dead_letters = _connect(args)
    if args.command == "list":
        return _list(dead_letters, args)
    topic, partition, offset = args.ref
    if topic not in DLQ_TOPICS:
        parser.error(f"{topic} is not a dead-letter topic ({', '.join(DLQ_TOPICS)})")
    letter = dead_letters.get(topic, partition, offset)
    if letter is None:
        print(f"no record {topic}:{partition}:{offset}", file=sys.stderr)
        return 1
    if args.command == "show":
        original: RecordShown | dict[str, str]
        try:
            original = letter.original().describe()
        except ValueError as exc:
            original = {"error": str(exc)}
        _print({**letter.summary(), "detail": letter.data.get("detail"),
                "letter_headers": {k: _show(v) for k, v in letter.headers},
                "original": original})
        return 0
    return _replay(dead_letters, letter, args)


def _connect(args: argparse.Namespace) -> DeadLetters:
    from services.common.settings import ServiceSettings

    settings = ServiceSettings()
    if args.command_config is None:
        return DeadLetters(args.bootstrap or settings.kafka_bootstrap, settings.kafka_auth())
    auth, bootstrap = KafkaAuth.from_java_properties(
        args.command_config.read_text(encoding="utf-8"))
    return DeadLetters(args.bootstrap or bootstrap or settings.kafka_bootstrap, auth)


def _list(dead_letters: DeadLetters, args: argparse.Namespace) -> int:
    count = 0
    for letter in dead_letters.letters(tuple(args.topic or DLQ_TOPICS)):
        row = letter.summary()
        if (args.reason and row["reason"] != args.reason) or (
                args.source and row["source_topic"] != args.source):
            continue
        count += 1
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"{row['ref']}  {row['time']}  {row['reason']:<18} "
                  f"from {row['source_topic']}:{row['source_partition']}:"
                  f"{row['source_offset']}  key={row['key']}")
    if not args.json:
        print(f"{count} dead letter(s)", file=sys.stderr)
    return 0


def _replay(dead_letters: DeadLetters, letter: Letter, args: argparse.Namespace) -> int:
    value = args.value_file.read_bytes() if args.value_file else None
    try:
        original = letter.original(cut_ok=value is not None)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    record = original.replay_of(letter, value)
    if args.dry_run:
        _print({"dry_run": True, "would_send": record.describe()})
        return 0
    partition, offset = dead_letters.send(record)
    _print({"replayed": letter.ref, "to": f"{record.topic}:{partition}:{offset}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
