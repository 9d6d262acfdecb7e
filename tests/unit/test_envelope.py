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
