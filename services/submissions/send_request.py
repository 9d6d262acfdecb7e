"""Send one submission request by Kafka as an outside system does: the request body (what
`POST /v1/submissions` takes) in a CloudEvents envelope, signed with the unit's key
(services/submissions/proof.py), produced with acks=all as the system's Kafka principal.

    EMULATION_KAFKA_USERNAME=ministry EMULATION_KAFKA_PASSWORD=... \\
    python -m services.submissions.send_request --bootstrap 127.0.0.1:9092 \\
        --keys-file .local/unit-keys.json request.json

Prints the event id (the idempotency key: sending the same record again changes nothing),
partition and offset."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.common import event_types
from services.common.kafka_auth import KafkaAuth
from services.common.topics import SUBMISSION_REQUESTS
from services.submissions.proof import signed_headers

REQUESTED = event_types.SUBMISSION_REQUESTED
DATASCHEMA = "urn:emulation:schema:submission-requested:v1"


@dataclass(frozen=True)
class SignedRecord:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    event_id: str


def request_record(body: dict[str, Any], key_id: str, key_hex: str, *,
                   event_id: str | None = None, source: str = "urn:emulation:system:ministry"
                   ) -> SignedRecord:
    """The record for one request: the unit id as the key, the envelope as the value,
    the proof in the headers."""
    unit = str(body["unit_id"])
    event_id = event_id or str(uuid.uuid4())
    envelope = {"specversion": "1.0", "id": event_id, "source": source, "type": REQUESTED,
                "subject": unit, "time": datetime.now(UTC).isoformat(),
                "dataschema": DATASCHEMA, "datacontenttype": "application/json", "data": body}
    value = json.dumps(envelope, ensure_ascii=False).encode()
    return SignedRecord(unit.encode(), value, signed_headers(key_id, key_hex, value), event_id)


def send(bootstrap: str, auth: KafkaAuth, record: SignedRecord,
         timeout: float = 30.0) -> tuple[int, int]:
    """Produce with acks=all; returns (partition, offset) once Kafka has it."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all",
                             client_id="send-request", **auth.kafka_python())
    try:
        meta = producer.send(SUBMISSION_REQUESTS, key=record.key, value=record.value,
                             headers=record.headers).get(timeout=timeout)
        return int(meta.partition), int(meta.offset)
    finally:
        producer.close()


def main(argv: list[str] | None = None) -> int:
    from services.common.settings import ServiceSettings

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("request", type=Path, help="the request body (JSON)")
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--keys-file", type=Path, help="{unit_id: {key_id, key}} (JSON)")
    parser.add_argument("--key-id")
    parser.add_argument("--key", help="the unit's key, hex")
    parser.add_argument("--event-id", help="default: a new UUID")
    args = parser.parse_args(argv)
    body = json.loads(args.request.read_text(encoding="utf-8"))
    key_id, key = args.key_id, args.key
    if args.keys_file:
        entry = json.loads(args.keys_file.read_text())[body["unit_id"]]
        entry = entry[0] if isinstance(entry, list) else entry
        key_id, key = entry["key_id"], entry["key"]
    if not (key_id and key):
        parser.error("give --keys-file, or --key-id and --key")
    settings = ServiceSettings()
    record = request_record(body, key_id, key, event_id=args.event_id,
                            source=f"urn:emulation:system:{settings.kafka_username or 'anonymous'}")
    partition, offset = send(args.bootstrap or settings.kafka_bootstrap, settings.kafka_auth(),
                             record)
    print(json.dumps({"event_id": record.event_id, "partition": partition, "offset": offset}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
