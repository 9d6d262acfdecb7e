"""What the submissions tests share: the intake over the in-memory database (with the
intake's unique index), a request body, and the outbox's questions."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.common.clock import ControlledClock
from services.submissions import domain
from services.submissions.registry import load_registry
from services.submissions.service import Intake
from services.submissions.store import SubmissionStore
from tests.fakes.kafka import FakeProducer
from tests.fakes.mongo import FakeDatabase

ROOT = Path(__file__).resolve().parents[2]
UNIQUE = {"submissions": ("unit_id", "idempotency_key")}  # services/submissions/schema.py
REGISTRY = load_registry()
# The write made after the answer: the outbox removal.
AFTER_ANSWER = (("outbox", "delete_one"),)


def intake_db() -> FakeDatabase:
    """The intake's database, with its unique index."""
    return FakeDatabase(unique=UNIQUE)


def request(unit: str = "province:quang-ninh", period: int = 2026, notes: str = "a"
            ) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        (ROOT / "schemas/examples/submission-request.json").read_text("utf-8"))
    body.update(unit_id=unit, period=period, notes=notes)
    return body


def intake(db: FakeDatabase, producer: FakeProducer | None = None,
           clock: ControlledClock | None = None) -> Intake:
    """A fresh process on the same database; its clock on 20 November 2026 unless given."""
    if clock is None:
        clock = ControlledClock()
        clock.set(datetime(2026, 11, 20, 9, tzinfo=UTC))
    return Intake(store=SubmissionStore(db), producer=producer or FakeProducer(),
                  registry=REGISTRY, clock=clock)


def sid(revision: int) -> str:
    return domain.submission_id("province:quang-ninh", 2026, revision)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def submissions(db: FakeDatabase) -> list[dict[str, Any]]:
    return sorted(db["submissions"].docs.values(), key=lambda d: d["_id"])


def all_published(db: FakeDatabase) -> bool:
    """Every submission on Kafka as the store says: out of the outbox (or marked by an
    older version)."""
    return all(d.get("published") or d["_id"] not in db["outbox"].docs
               for d in submissions(db))


def age_outbox(db: FakeDatabase, seconds: float) -> None:
    for entry in db["outbox"].docs.values():
        entry["stored_at"] = entry["stored_at"] - timedelta(seconds=seconds)
