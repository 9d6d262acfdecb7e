"""Scoring's typed models (services/scoring/models.py) say what the store's schema classes
(schema.py) and the code write: a field renamed in one place fails here, not at run time
in another service."""

from __future__ import annotations

import asyncio

from mongoengine.base import BaseDocument

from services.common.clock import Clock
from services.common.envelope import new_event
from services.scoring.bootstrap import build_parts
from services.scoring.models import LeadershipRecord, ScoreRecord
from services.scoring.schema import LeadershipDoc, ScoreHistoryDoc
from services.scoring.service import ACCEPTED
from services.scoring.settings import ScoringSettings
from services.scoring.store import CANDIDATE_FIELDS
from tests.fakes.kafka import FakeProducer
from tests.fakes.mongo import FakeDatabase
from tests.unit.submissions_support import request

PERIOD = 2091


def stored_fields(document: type[BaseDocument]) -> set[str]:
    return {"_id" if name == "id" else name for name in document._fields}


def keys(model: type) -> set[str]:
    return set(model.__required_keys__) | set(model.__optional_keys__)


def test_a_score_record_has_the_fields_of_a_stored_score() -> None:
    # `movement` is kept undeclared (strict: False): scores from before movements lack it.
    assert keys(ScoreRecord) == stored_fields(ScoreHistoryDoc) | {"movement"}


def test_a_certificate_candidate_keeps_only_required_fields_of_a_score() -> None:
    assert set(CANDIDATE_FIELDS) <= set(ScoreRecord.__required_keys__)


def test_a_leadership_record_has_the_fields_of_the_register_and_its_event() -> None:
    # `sequence` belongs to the event only (contracts.ClusterLeadership).
    assert keys(LeadershipRecord) - {"sequence"} == stored_fields(LeadershipDoc)


def test_the_scorer_stores_and_publishes_what_a_score_record_says() -> None:
    db, producer = FakeDatabase(), FakeProducer()
    scorer = build_parts(ScoringSettings(), db, producer, Clock()).scorer
    unit = "province:quang-ninh"
    event = new_event(type=ACCEPTED, source="test", subject=unit, schema="submission-accepted",
                      version=2, data={
                          "submission_id": "s-1", "unit_id": unit, "period": PERIOD,
                          "unit_type": "province", "movement": "toan-dan", "revision": 1,
                          "on_time": True, "received_at": f"{PERIOD}-10-01T00:00:00+00:00",
                          "content": request(unit, period=PERIOD)})
    asyncio.run(scorer.on_submission(event))
    [stored] = db["score_history"].docs.values()
    assert set(stored) == keys(ScoreRecord)
    assert set(ScoreRecord.__required_keys__) <= set(stored)
    [sent] = producer.events
    assert sent.id == stored["event_id"] and sent.data["total"] == stored["total"]
