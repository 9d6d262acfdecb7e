"""The one decoder of a record's event (common.kafka.decode_record), which the live
record loop, reporting's rebuild and scoring's rescore share: the envelope, then the
event's own schema, and a reason for everything else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.common.kafka import Rejected, decode_record

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"


def example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return doc


def encoded(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def test_a_valid_event_is_decoded_with_its_data() -> None:
    event = decode_record(encoded(example("score-computed")))
    assert event.type == "vn.emulation.score.computed"
    assert event.data["unit_id"] == "province:quang-ninh"


@pytest.mark.parametrize(("value", "reason"), [
    (None, "bad-envelope"),
    (b"not json", "bad-envelope"),
    (b"\xff\xfe", "bad-envelope"),
    (b"[]", "bad-envelope"),
])
def test_what_is_no_event_is_a_bad_envelope(value: bytes | None, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        decode_record(value)
    assert caught.value.reason == reason


def test_an_event_against_its_schema_is_a_schema_violation_with_the_errors() -> None:
    doc = example("score-computed")
    del doc["data"]["total"]
    with pytest.raises(Rejected) as caught:
        decode_record(encoded(doc))
    assert caught.value.reason == "schema-violation"
    assert "total" in caught.value.detail and caught.value.extra["errors"]


def test_an_event_of_no_known_schema_is_refused_as_such() -> None:
    doc = example("score-computed")
    doc["dataschema"] = "urn:emulation:schema:score-computed:v99"
    with pytest.raises(Rejected) as caught:
        decode_record(encoded(doc))
    assert caught.value.reason == "unknown-schema"
