from __future__ import annotations

import json
from typing import Any

import pytest

from services.common.envelope import (
    EnvelopeError,
    binary_attributes,
    new_event,
    parse_event,
    parse_record,
)
from services.common.kafka import STRUCTURED


def test_round_trip_keeps_every_attribute() -> None:
    ev = new_event(type="vn.emulation.test", source="urn:t", subject="police:phu-tho",
                   schema="submission-accepted", data={"a": "Phú Thọ"}, id="e-1")
    back = parse_event(ev.to_bytes())
    assert back == ev
    assert back.schema_name == "submission-accepted" and back.schema_version == 1
    assert "Phú Thọ" in ev.to_bytes().decode()  # UTF-8, not escaped


@pytest.mark.parametrize("raw, reason", [
    (None, "empty"), (b"\xff\xfe", "not JSON"), (b"[1]", "not a JSON object"),
    (json.dumps({"specversion": "0.3"}).encode(), "specversion"),
    (json.dumps({"specversion": "1.0", "id": "x"}).encode(), "missing envelope attributes"),
])
def test_unusable_records_say_why(raw: bytes | None, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        parse_event(raw)


@pytest.mark.parametrize("dataschema", [
    "urn:emulation:schema:submission-accepted:vX", "urn:emulation:schema:submission-accepted:v",
    "urn:emulation:schema:submission-accepted:v1x", "urn:emulation:schema::v1",
])
def test_a_malformed_dataschema_is_an_envelope_error(dataschema: str) -> None:
    ev = new_event(type="t", source="urn:t", subject="s", schema="submission-accepted", data={})
    raw = json.dumps(dict(ev.to_dict(), dataschema=dataschema))
    with pytest.raises(EnvelopeError, match="dataschema"):
        parse_event(raw)


def test_deep_nesting_and_huge_integers_are_envelope_errors_not_crashes() -> None:
    ev = new_event(type="t", source="urn:t", subject="s", schema="submission-accepted", data={})
    base = ev.to_bytes().decode()[:-1]  # without the closing brace
    deep = base + ',"x":' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(EnvelopeError, match="nests deeper"):
        parse_event(deep)
    nested = base + ',"x":' + "[" * 40 + "]" * 40 + "}"  # under the recursion limit
    with pytest.raises(EnvelopeError, match="nests deeper"):
        parse_event(nested)
    with pytest.raises(EnvelopeError, match="not JSON"):
        parse_event(base + ',"x":' + "9" * 5000 + "}")
    assert parse_event(base + ',"x":' + "[" * 20 + "]" * 20 + "}") == ev


# -- the Kafka protocol binding's binary mode -----------------------------------------

def binary_headers(ev: Any, **changes: bytes | None) -> list[tuple[str, bytes]]:
    attributes = {"specversion": b"1.0", "id": ev.id.encode(), "source": ev.source.encode(),
                  "type": ev.type.encode(), "subject": ev.subject.encode(),
                  "time": ev.time.encode(), "dataschema": ev.dataschema.encode()}
    attributes.update(changes)
    return [("content-type", b"application/json"),
            *((f"ce_{k}", v) for k, v in attributes.items() if v is not None)]


def test_a_binary_mode_record_is_the_same_event_as_its_structured_twin() -> None:
    ev = new_event(type="vn.emulation.test", source="urn:t", subject="police:phu-tho",
                   schema="submission-accepted", data={"a": "Phú Thọ"}, id="e-2")
    value = json.dumps(ev.data, ensure_ascii=False).encode()
    assert parse_record(value, binary_headers(ev)) == ev
    assert binary_attributes(binary_headers(ev)) == {
        k: str(v) for k, v in ev.to_dict().items()
        if k not in ("data", "datacontenttype")}
    # Structured mode, with or without its content-type (ce_ headers then ignored).
    assert parse_record(ev.to_bytes(), [STRUCTURED]) == ev
    assert parse_record(ev.to_bytes(), None) == ev
    assert parse_record(ev.to_bytes(), [STRUCTURED, ("ce_specversion", b"0.3")]) == ev
    assert binary_attributes([STRUCTURED, ("ce_specversion", b"1.0")]) is None


@pytest.mark.parametrize("flaw, reason", [
    ({"specversion": b"0.3"}, "binary mode: specversion"),
    ({"id": None}, "binary mode: missing envelope attributes: id"),
    ({"dataschema": b"urn:x"}, "binary mode: unknown dataschema"),
    ({"subject": b"\xff"}, "header ce_subject is not UTF-8"),
    ({"content-type": b"application/xml"}, "binary mode: content-type"),
    ({"value": b"[1]"}, "binary mode: data must be a JSON object"),
    ({"value": b"{"}, "binary mode: value \\(the data\\) is not JSON"),
    ({"value": b""}, "binary mode: empty record value"),
    ({"twice": b"police:other"}, "header ce_subject given twice"),
])
def test_malformed_binary_records_say_why(flaw: dict[str, bytes | None], reason: str) -> None:
    ev = new_event(type="vn.emulation.test", source="urn:t", subject="police:phu-tho",
                   schema="submission-accepted", data={"a": 1})
    value = flaw.pop("value", b'{"a": 1}')
    content_type = flaw.pop("content-type", None)
    twice = flaw.pop("twice", None)
    headers = binary_headers(ev, **flaw)
    if content_type is not None:
        headers[0] = ("content-type", content_type)
    if twice is not None:
        headers.append(("ce_subject", twice))
    with pytest.raises(EnvelopeError, match=reason):
        parse_record(value, headers)
