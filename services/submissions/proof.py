"""Proof of the unit on the Kafka way in (docs/kafka-security.md, ADR 0007): a record of
`emulation.submission-requests.v1` that claims unit X carries the HMAC-SHA256 of its value
under one of X's keys, in two headers:

    emulation-key-id: <key id>
    emulation-signature: v1=<lower-case hex HMAC-SHA256(key, record value bytes)>

In the CloudEvents binary mode (`ce_*` headers) the value is the data and the event id
(the idempotency key) is a header, so the signature covers both: HMAC-SHA256(key,
`ce_id=<ce_id>` LF value bytes); a captured record sent again with another `ce_id` does
not verify. The `ce_subject` header is checked against the key's unit like a structured
record's `subject`.

Kafka's ACLs say which *system* may write the topic; this says which *unit* the record
speaks for. A record without a valid proof, or whose key belongs to another unit than the
one it claims (`subject` and `data.unit_id`), is dead-lettered as `unauthenticated` and
nothing is stored. A captured record sent again changes nothing: its event id is the
idempotency key.

The unit keys are secrets the platform must be able to read (an HMAC is checked with the
key itself, so a hash cannot be stored): a JSON file readable by the service only, reread
when it changes: {"<unit_id>": {"key_id": "...", "key": "<hex>"}, ...}; a unit whose
value is a list of such objects has several valid keys (rotation)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common import individuals
from services.common.envelope import binary_attributes
from services.common.kafka import Rejected
from services.submissions import metrics

log = logging.getLogger(__name__)
KEY_ID_HEADER = "emulation-key-id"
SIGNATURE_HEADER = "emulation-signature"
SCHEME = "v1"
UNAUTHENTICATED = "unauthenticated"


def signature(key_hex: str, value: bytes) -> str:
    return hmac.new(bytes.fromhex(key_hex), value, hashlib.sha256).hexdigest()


def signed_bytes(value: bytes, headers: Any = None) -> bytes:
    """What the signature covers: the value; in binary mode `ce_id=<ce_id>` LF the value
    (the event id, the idempotency key, is a header there and must be signed too)."""
    binary = binary_attributes(headers) if headers else None
    if binary is None:
        return value
    return b"ce_id=" + binary.get("id", "").encode() + b"\n" + value


def signed_headers(key_id: str, key_hex: str, value: bytes, headers: Any = None
                   ) -> list[tuple[str, bytes]]:
    """The headers a producer adds to a record whose value is `value` (and, in binary
    mode, whose other headers are `headers`)."""
    digest = signature(key_hex, signed_bytes(value, headers))
    return [(KEY_ID_HEADER, key_id.encode()),
            (SIGNATURE_HEADER, f"{SCHEME}={digest}".encode())]


def issue_unit_keys(unit_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """A fresh 256-bit key per unit, with a key id that names no secret."""
    return {u: {"key_id": f"k-{secrets.token_hex(6)}", "key": secrets.token_hex(32)}
            for u in unit_ids}


@dataclass(frozen=True)
class UnitKey:
    unit_id: str
    key_hex: str


class UnitKeys:
    """Key id -> unit and key, from the keys file, read again whenever it changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._mtime: float | None = None
        self._keys: dict[str, UnitKey] = {}

    def get(self, key_id: str) -> UnitKey | None:
        self._refresh()
        return self._keys.get(key_id)

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._keys, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        doc: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        keys: dict[str, UnitKey] = {}
        for unit_id, entry in doc.items():
            for k in entry if isinstance(entry, list) else [entry]:
                keys[str(k["key_id"])] = UnitKey(unit_id, str(k["key"]))
        self._keys, self._mtime = keys, mtime


class UnitProof:
    """Checks one record's proof before it is parsed; raises Rejected(unauthenticated)."""

    def __init__(self, keys: UnitKeys) -> None:
        self.keys = keys

    def check(self, message: Any) -> None:
        try:
            self._check(message)
        except Rejected as exc:
            metrics.UNAUTHENTICATED.labels(exc.extra.get("why", "invalid")).inc()
            log.warning("unauthenticated Kafka record", extra={"fields": {
                "topic": message.topic, "partition": message.partition,
                "offset": message.offset, "key_id": exc.extra.get("key_id"),
                "detail": exc.detail[:300]}})
            raise

    def _check(self, message: Any) -> None:
        headers = _headers(message.headers)
        key_id, sig = headers.get(KEY_ID_HEADER), headers.get(SIGNATURE_HEADER)
        if not key_id or not sig:
            raise _refused("missing", f"no {KEY_ID_HEADER} and {SIGNATURE_HEADER} headers: "
                           "a request must be signed with its unit's key")
        key = self.keys.get(key_id)
        scheme, _, digest = sig.partition("=")
        value = message.value or b""
        # Unknown key and wrong signature are one answer: nothing tells a prober which.
        if (key is None or scheme != SCHEME
                or not hmac.compare_digest(digest.lower(), signature(
                    key.key_hex, signed_bytes(value, message.headers)))):
            raise _refused("bad-signature", "the signature does not verify under the "
                           "key it names", key_id=key_id[:64])
        for claim in _claims(value, message.headers):
            # A unit speaks for itself and for the people it reports (their records).
            if claim != key.unit_id and not individuals.answers_for(key.unit_id, claim):
                raise _refused("other-unit", f"signed with a key of {key.unit_id}, the "
                               f"record speaks for {claim[:200]}", key_id=key_id[:64])


def _refused(why: str, detail: str, **extra: Any) -> Rejected:
    return Rejected(UNAUTHENTICATED, detail, why=why, **extra)


def _headers(raw: Any) -> dict[str, str]:
    pairs = (raw.items() if hasattr(raw, "items") else raw) or ()
    found: dict[str, str] = {}
    for name, value in pairs:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        found.setdefault(str(name).lower(), text.strip())
    return found


def _claims(value: bytes, headers: Any) -> list[str]:
    """The units a record speaks for: its subject and data.unit_id, from the (signed)
    value in structured mode; in binary mode the value is the data and the subject is
    the `ce_subject` header. A value that is not such JSON claims none here; the
    envelope check refuses it next."""
    try:
        doc = json.loads(value)
    except (ValueError, RecursionError):
        return []
    if not isinstance(doc, dict):
        return []
    binary = binary_attributes(headers)
    if binary is not None:
        found = [binary.get("subject"), doc.get("unit_id")]
    else:
        data = doc.get("data")
        found = [doc.get("subject"), data.get("unit_id") if isinstance(data, dict) else None]
    return [str(c) for c in found if c is not None]
