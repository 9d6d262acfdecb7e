"""CloudEvents 1.0 envelope, structured JSON mode: the one event format on every topic."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SPECVERSION = "1.0"
SCHEMA_URN = "urn:emulation:schema:{name}:v{version}"
SCHEMA_PATTERN = re.compile(r"urn:emulation:schema:[A-Za-z0-9._-]+:v[0-9]{1,6}")
# Nothing the platform produces nests deeper than a handful of levels; a deeper value
# would only reach Python's recursion limit in json, the schema check or a handler.
MAX_DEPTH = 32


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
    except ValueError as exc:  # bad UTF-8, bad JSON, an integer over Python's digit limit
        raise EnvelopeError(f"value is not JSON: {str(exc)[:200]}") from exc
    except RecursionError as exc:
        raise EnvelopeError(f"value nests deeper than {MAX_DEPTH} levels") from exc
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
    if _depth(doc) > MAX_DEPTH:
        raise EnvelopeError(f"value nests deeper than {MAX_DEPTH} levels")
    schema = str(doc["dataschema"])
    if not SCHEMA_PATTERN.fullmatch(schema):
        raise EnvelopeError(f"unknown dataschema {schema[:200]!r}: not "
                            "urn:emulation:schema:<name>:v<number>")
    return Event(
        id=str(doc["id"]),
        type=str(doc["type"]),
        source=str(doc["source"]),
        subject=str(doc["subject"]),
        time=str(doc["time"]),
        dataschema=schema,
        data=doc["data"],
    )


def _depth(doc: Any) -> int:
    """How deeply `doc` nests, without recursing (so without a recursion limit)."""
    deepest, todo = 0, [(doc, 1)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:  # only containers nest: leaves are not queued
                todo.extend((child, depth + 1) for child in
                            (node.values() if isinstance(node, dict) else node)
                            if isinstance(child, dict | list))
    return deepest
