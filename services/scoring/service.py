"""Scores each accepted submission with the rubric in force, stores it, publishes it,
and has the standings and proposals republished; a redelivery changes nothing."""

from __future__ import annotations

import logging
from datetime import UTC

from opentelemetry import trace

from services.common import event_types, movements
from services.common.clock import Clock
from services.common.contracts import SubmissionAcceptedV1
from services.common.envelope import Event, data_of
from services.common.kafka import Rejected
from services.common.ports import Producer
from services.common.topics import SCORES
from services.scoring import metrics
from services.scoring.domain import Rubric, criteria_answered, earliest, score_submission
from services.scoring.models import ScoreRecord
from services.scoring.produced_events import score_event, score_event_id, wall_sequence
from services.scoring.rubrics import RubricBook
from services.scoring.standings_publisher import StandingsPublisher
from services.scoring.store import ScoreStore

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
ACCEPTED = event_types.SUBMISSION_ACCEPTED


class Unread:
    """The caller has not read the score in force: ScoreStore.save reads it."""


UNREAD = Unread()


def unit_type_of(data: SubmissionAcceptedV1) -> str:
    return str(data.get("unit_type") or data["unit_id"].split(":", 1)[0])


class Scorer:
    def __init__(self, *, store: ScoreStore, rubrics: RubricBook, producer: Producer,
                 clock: Clock, rankings: StandingsPublisher) -> None:
        self.store, self.rubrics, self.producer = store, rubrics, producer
        self.clock, self.rankings = clock, rankings

    async def rubric_for(self, unit_type: str, period: int) -> Rubric | None:
        """The rubric an operator's rescore chose for the period, else the one in force."""
        chosen = await self.store.selected(unit_type, period)
        rubric = self.rubrics.get(chosen) if chosen else None
        if rubric is not None and rubric.unit_type == unit_type:
            return rubric
        return self.rubrics.in_force(unit_type, period)

    async def on_submission(self, event: Event) -> None:
        if event.type != ACCEPTED:
            return
        # Either version: a version 1 event is read as its unit type's movement.
        data = data_of(event, SubmissionAcceptedV1)
        unit_type, period = unit_type_of(data), data["period"]
        rubric = await self.rubric_for(unit_type, period)
        if rubric is None:
            raise Rejected("no-rubric", f"no {unit_type} rubric is in force for {period}")
        try:
            criteria_answered(rubric, data["content"].get("self_assessment") or {})
        except ValueError as e:  # a person's record in both groups, or neither
            raise Rejected("invalid-person-record", str(e)) from None
        current = await self.store.current(data["unit_id"], period)
        first = earliest(current.get("first_received_at") if current else None,
                         data.get("received_at"))
        if await self.score(data, rubric, first_received_at=first, fresh=False,
                            current=current):
            # Durably marked before the record is done; published by StandingsPublisher.tick.
            await self.rankings.mark(period, [data["unit_id"]])

    async def score(self, data: SubmissionAcceptedV1, rubric: Rubric, *,
                    first_received_at: str | None, fresh: bool,
                    current: ScoreRecord | Unread | None = UNREAD
                    ) -> ScoreRecord | None:
        """Score one submission, keep it, and publish it if it is (now) in force.
        `fresh=False` (a delivery) reuses a score already kept for the same revision and
        rubric, so a redelivery republishes the very same event; a rescore scores anew.
        `current`: the score in force as the caller just read it, if it did."""
        unit, period = data["unit_id"], data["period"]
        with tracer.start_as_current_span("scoring.score", attributes={
                "emulation.period": period, "emulation.revision": data["revision"],
                "emulation.rubric_version": rubric.version}):
            score = score_submission(rubric, data["content"], data["on_time"])
            doc: ScoreRecord = {
                "unit_id": unit, "period": period, "unit_type": unit_type_of(data),
                "movement": movements.of_event(data, unit),
                "total": score.total, "max": score.max, "breakdown": score.breakdown_dicts(),
                "rubric_version": score.rubric_version,
                "submission_id": data["submission_id"], "revision": data["revision"],
                "on_time": data["on_time"], "received_at": data.get("received_at"),
                "first_received_at": first_received_at,
                "scored_at": self.clock.now().astimezone(UTC).isoformat(),
                # Orders two scorings of one revision (a rescore) whatever the clock says.
                "seq": wall_sequence(),
                "event_id": "",  # a function of the rest: below
            }
            doc["event_id"] = score_event_id(doc)
            kept = None if fresh else await self.store.kept(doc)
            if kept is not None:
                doc = kept.copy()
                doc.pop("_id", None)
            if isinstance(current, Unread):
                saved = await self.store.save(doc, in_history=kept is not None)
            else:
                saved = await self.store.save(doc, in_history=kept is not None,
                                              current=current, read=False)
            if not saved:
                metrics.SCORES.labels(doc["unit_type"], "superseded").inc()
                return None
            await self.producer.send(SCORES, score_event(doc), key=unit)
            metrics.SCORES.labels(doc["unit_type"], "replayed" if kept else "current").inc()
            log.info("scored", extra={"fields": {
                "unit_id": unit, "period": period, "revision": doc["revision"],
                "rubric_version": doc["rubric_version"], "total": doc["total"]}})
            return doc
