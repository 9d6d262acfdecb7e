"""Scores each accepted submission and publishes it; redelivery changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from services.common.envelope import Event, new_event
from services.common.kafka import EventProducer
from services.common.topics import SCORES
from services.scoring.domain import score_submission
from services.scoring.store import ScoreStore

tracer = trace.get_tracer(__name__)
SOURCE = "urn:emulation:service:scoring"
ACCEPTED = "vn.emulation.submission.accepted"


class Scorer:
    def __init__(self, *, store: ScoreStore, producer: EventProducer) -> None:
        self.store, self.producer = store, producer

    async def on_submission(self, event: Event) -> None:
        if event.type != ACCEPTED:
            return
        data = event.data
        with tracer.start_as_current_span("scoring.score", attributes={
                "emulation.period": data["period"], "emulation.revision": data["revision"]}):
            score = score_submission(data["content"], data["on_time"])
            doc: dict[str, Any] = {
                "_id": f"{data['unit_id']}|{data['period']}",
                "unit_id": data["unit_id"], "period": data["period"],
                "unit_type": data.get("unit_type"),
                "total": score.total, "max": score.max, "breakdown": score.breakdown_dicts(),
                "rubric_version": score.rubric_version,
                "submission_id": data["submission_id"], "revision": data["revision"],
                "on_time": data["on_time"], "scored_at": datetime.now(UTC).isoformat(),
            }
            if not await self.store.save(doc):
                return
            await self.producer.send(SCORES, score_event(doc), key=data["unit_id"])


def score_event(doc: dict[str, Any]) -> Event:
    data = {k: v for k, v in doc.items() if k not in ("_id", "unit_type")}
    return new_event(
        type="vn.emulation.score.computed", source=SOURCE, subject=doc["unit_id"],
        schema="score-computed", data=data,
        # Deterministic: a re-emitted score is recognised downstream as the same event.
        id=f"score:{doc['unit_id']}:{doc['period']}:r{doc['revision']}:{doc['rubric_version']}")
