"""CloudEvents 1.0 envelope, structured JSON mode: the one event format on every topic."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SPECVERSION = "1.0"
SCHEMA_URN = "urn:emulation:schema:{name}:v{version}"


class EnvelopeError(ValueError):
    """A record that is not a usable event; the message says why."""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    source: str
    subject: str
    time: str
    dataschema: str
    data: dict[str, Any]
    # When the broker appended the record this event was read from (its LogAppendTime
    # timestamp), if the topic stamps records so; None otherwise. Not part of the event.
    appended_at: datetime | None = field(default=None, compare=False, repr=False)

    @property
    def schema_name(self) -> str:
        return self.dataschema.split(":")[-2]

    @property
    def schema_version(self) -> int:
        return int(self.dataschema.rsplit(":v", 1)[-1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time,
            "dataschema": self.dataschema,
            "datacontenttype": "application/json",
            "data": self.data,
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


def schema_urn(name: str, version: int = 1) -> str:
    return SCHEMA_URN.format(name=name, version=version)


def new_event(
    *,
    type: str,
    source: str,
    subject: str,
    data: dict[str, Any],
    schema: str,
    version: int = 1,
    id: str | None = None,
    time: datetime | None = None,
) -> Event:
    """Build an event; `schema` names its JSON Schema file in `schemas/` (without `.vN.json`)."""
    return Event(
        id=id or str(uuid.uuid4()),
        type=type,
        source=source,
        subject=subject,
        time=(time or datetime.now(UTC)).isoformat(),
        dataschema=schema_urn(schema, version),
        data=data,
    )


def parse_event(raw: bytes | str | None) -> Event:
    """Decode one record value; raise EnvelopeError with the reason if it is no event."""
    if raw is None:
        raise EnvelopeError("empty record value")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError(f"value is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise EnvelopeError("value is not a JSON object")
    if doc.get("specversion") != SPECVERSION:
        raise EnvelopeError(
            f"specversion must be {SPECVERSION!r}, got {doc.get('specversion')!r}")
    required = ("id", "type", "source", "subject", "time", "dataschema")
    missing = [k for k in required if not doc.get(k)]
    if missing:
        raise EnvelopeError(f"missing envelope attributes: {', '.join(missing)}")
    if not isinstance(doc.get("data"), dict):
        raise EnvelopeError("data must be a JSON object")
    schema = str(doc["dataschema"])
    if not schema.startswith("urn:emulation:schema:") or ":v" not in schema:
        raise EnvelopeError(f"unknown dataschema {schema!r}")
    return Event(
        id=str(doc["id"]),
        type=str(doc["type"]),
        source=str(doc["source"]),
        subject=str(doc["subject"]),
        time=str(doc["time"]),
        dataschema=schema,
        data=doc["data"],
    )
