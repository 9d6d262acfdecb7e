"""CloudEvents 1.0 envelope: structured JSON mode is the one event format the platform
produces; a record in the Kafka protocol binding's binary mode (`ce_*` headers, the value
is the data) is read into the same Event."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from services.common.contracts import Payload

SPECVERSION = "1.0"
SCHEMA_URN = "urn:emulation:schema:{name}:v{version}"
SCHEMA_PATTERN = re.compile(r"urn:emulation:schema:[A-Za-z0-9._-]+:v[0-9]{1,6}")
# Nothing the platform produces nests deeper than a handful of levels; a deeper value
# would only reach Python's recursion limit in json, the schema check or a handler.
MAX_DEPTH = 32
P = TypeVar("P")


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
    data: Payload | dict[str, Any],
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
        # A payload goes out as the JSON object it is: nothing converted, nothing copied.
        data=cast("dict[str, Any]", data),
    )


def data_of(event: Event, payload: type[P]) -> P:
    """The event's data read as its contract's type (services/common/contracts.py), once
    validated against its JSON Schema (the record loop validates every consumed event):
    a view for the type checker, nothing converted."""
    return cast(P, event.data)


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
    return _event_of(doc)


# The Kafka protocol binding: a record whose content-type is application/cloudevents
# (+json) is structured; one with a `ce_specversion` header is binary, its attributes in
# `ce_<name>` headers and its value the data (here JSON, `content-type:
# application/json`, the only data content type the platform's schemas describe).
BINARY_PREFIX = "ce_"
STRUCTURED_TYPE = "application/cloudevents"
DATA_TYPE = "application/json"


def parse_record(raw: bytes | str | None, headers: Any = None) -> Event:
    """Decode one Kafka record, structured or binary mode (the binding's rules); raise
    EnvelopeError with the reason if it is no event."""
    found = _headers(headers)
    content_type = found.get("content-type", "")
    if content_type.lower().startswith(STRUCTURED_TYPE) or "ce_specversion" not in found:
        return parse_event(raw)
    return _parse_binary(raw, found, content_type)


def binary_attributes(headers: Any) -> dict[str, str] | None:
    """A binary-mode record's attributes by name (`subject`, ...); None for a structured
    record, or headers parse_record would refuse."""
    try:
        found = _headers(headers)
    except EnvelopeError:
        return None
    if "ce_specversion" not in found or found.get(
            "content-type", "").lower().startswith(STRUCTURED_TYPE):
        return None
    return _attributes(found)


def _parse_binary(raw: bytes | str | None, found: dict[str, str], content_type: str) -> Event:
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media != DATA_TYPE:
        raise EnvelopeError(f"binary mode: content-type {content_type[:100]!r} is not "
                            f"{DATA_TYPE}, the one data content type accepted")
    if raw is None or not raw:
        raise EnvelopeError("binary mode: empty record value (the data)")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise EnvelopeError(f"binary mode: value (the data) is not JSON: "
                            f"{str(exc)[:200]}") from exc
    except RecursionError as exc:
        raise EnvelopeError(f"value nests deeper than {MAX_DEPTH} levels") from exc
    try:
        return _event_of({**_attributes(found), "data": data})
    except EnvelopeError as exc:
        raise EnvelopeError(f"binary mode: {exc}") from exc


def _attributes(found: dict[str, str]) -> dict[str, str]:
    return {name[len(BINARY_PREFIX):]: value for name, value in found.items()
            if name.startswith(BINARY_PREFIX)}


def _headers(headers: Any) -> dict[str, str]:
    """Header names (lower case) to UTF-8 values; a name given twice with two values
    is refused (which one would count?)."""
    pairs = (headers.items() if hasattr(headers, "items") else headers) or ()
    found: dict[str, str] = {}
    for name, value in pairs:
        key = str(name).lower()
        if not (key == "content-type" or key.startswith(BINARY_PREFIX)):
            continue
        try:
            text = (value.decode("utf-8") if isinstance(value, bytes | bytearray)
                    else "" if value is None else str(value))
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"header {key[:64]} is not UTF-8") from exc
        if found.setdefault(key, text) != text:
            raise EnvelopeError(f"header {key[:64]} given twice with different values")
    return found


def _event_of(doc: dict[str, Any]) -> Event:
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
