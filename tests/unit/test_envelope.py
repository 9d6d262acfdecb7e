from __future__ import annotations

import json

import pytest

from services.common.envelope import EnvelopeError, new_event, parse_event


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
