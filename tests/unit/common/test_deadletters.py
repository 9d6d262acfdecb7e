"""The dead-letter CLI's own logic without Kafka (tests/integration/test_deadletters.py
runs it on the real stack): rebuilding the original record from a letter, the replay's
headers, the refusals, the dry run sending nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from services.common.deadletters import (
    DEAD_LETTERS,
    REPLAYED_FROM,
    DeadLetters,
    Letter,
    Original,
    main,
    parse_ref,
)
from services.common.kafka_auth import KafkaAuth

SOURCE = "emulation.submissions.v1"


def letter(offset: int = 7, **data: Any) -> Letter:
    body = {"consumer": "scoring", "topic": SOURCE, "partition": 2, "offset": 41,
            "key": "province:ha-noi", "reason": "handler-error", "detail": "boom",
            "value": '{"id": "e-1"}', "value_encoding": "utf-8",
            "headers": [{"key": "emulation-signature", "value": "v1=ab", "value_encoding":
                         "utf-8"},
                        {"key": "bin", "value": base64.b64encode(b"\xff\x00").decode(),
                         "value_encoding": "base64"}], **data}
    event = {"type": "vn.emulation.dead-letter", "data": body}
    return Letter(DEAD_LETTERS, 1, offset, 1_764_000_000_000, [("content-type", b"x")],
                  json.dumps(event).encode())


class FakeDeadLetters(DeadLetters):
    def __init__(self, letters: list[Letter]) -> None:
        super().__init__("127.0.0.1:1", KafkaAuth())
        self.stored: list[Letter] = letters
        self.sent: list[Original] = []

    def letters(self, topics: tuple[str, ...] = ()) -> Any:
        return iter(x for x in self.stored if x.topic in topics)

    def get(self, topic: str, partition: int, offset: int) -> Letter | None:
        return next((x for x in self.stored if (x.topic, x.partition, x.offset)
                     == (topic, partition, offset)), None)

    def send(self, record: Original) -> tuple[int, int]:
        self.sent.append(record)
        return 3, 99


def test_the_original_record_is_rebuilt_byte_for_byte() -> None:
    original = letter().original()
    assert original.topic == SOURCE and original.key == b"province:ha-noi"
    assert original.value == b'{"id": "e-1"}'
    assert original.headers == [("emulation-signature", b"v1=ab"), ("bin", b"\xff\x00")]


def test_a_replay_keeps_the_headers_and_names_its_letter_once() -> None:
    one = letter()
    first = one.original().replay_of(one)
    assert first.headers[:2] == one.original().headers
    assert first.headers[-1] == (REPLAYED_FROM, f"{DEAD_LETTERS}:1:7".encode())
    # A replay dead-lettered again and replayed: one mark, the newest.
    again = Letter(DEAD_LETTERS, 1, 8, 0, [], json.dumps({"data": {
        **one.data, "headers": [{"key": k, "value": v.decode("latin-1"),
                                 "value_encoding": "utf-8"} for k, v in first.headers[:1]]
        + [{"key": REPLAYED_FROM, "value": "old", "value_encoding": "utf-8"}]}}).encode())
    marks = [v for k, v in again.original().replay_of(again).headers if k == REPLAYED_FROM]
    assert marks == [f"{DEAD_LETTERS}:1:8".encode()]


def test_a_cut_value_is_not_replayed_unless_a_fixed_value_is_given() -> None:
    cut = letter(value_cut=True)
    with pytest.raises(ValueError, match="1,000"):
        cut.original()
    assert cut.original(cut_ok=True).topic == SOURCE
    with pytest.raises(ValueError, match="not a dead letter"):
        Letter(DEAD_LETTERS, 0, 0, 0, [], b"garbage").original()


def test_refs() -> None:
    assert parse_ref("emulation.dead-letters.v1:3:42") == (DEAD_LETTERS, 3, 42)
    for bad in ("x", "t:1", "t:a:1", ":1:2"):
        with pytest.raises(Exception, match="TOPIC:PARTITION:OFFSET"):
            parse_ref(bad)


def test_list_show_dry_run_and_replay(capsys: pytest.CaptureFixture[str],
                                      tmp_path: Any) -> None:
    fake = FakeDeadLetters([letter(7), letter(8, reason="schema-violation"),
                            Letter(DEAD_LETTERS, 0, 0, 0, [], b"\xff poison")])
    assert main(["list", "--json", "--reason", "handler-error"], fake) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["ref"] for r in rows] == [f"{DEAD_LETTERS}:1:7"]
    assert rows[0]["source_topic"] == SOURCE and rows[0]["time"].startswith("2025-11-24")
    assert main(["list"], fake) == 0
    assert "unreadable" in capsys.readouterr().out
    assert main(["show", f"{DEAD_LETTERS}:1:7"], fake) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["original"]["value"] == {"id": "e-1"}
    assert shown["original"]["headers"]["bin"] == {"base64": "/wA="}
    assert main(["replay", f"{DEAD_LETTERS}:1:7", "--dry-run"], fake) == 0
    assert json.loads(capsys.readouterr().out)["dry_run"] is True and fake.sent == []
    fixed = tmp_path / "fixed.json"
    fixed.write_bytes(b'{"id": "e-1", "fixed": true}')
    assert main(["replay", f"{DEAD_LETTERS}:1:7", "--value-file", str(fixed)], fake) == 0
    assert fake.sent[0].value == fixed.read_bytes() and fake.sent[0].topic == SOURCE
    assert json.loads(capsys.readouterr().out)["to"] == f"{SOURCE}:3:99"
    assert main(["replay", f"{DEAD_LETTERS}:0:0"], fake) == 1
    assert main(["show", f"{DEAD_LETTERS}:5:5"], fake) == 1
