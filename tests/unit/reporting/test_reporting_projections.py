"""What the read models keep of each event, and which handler takes which event."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from services.common.clock import Clock
from services.common.envelope import Event, new_event
from services.common.kafka import Rejected
from services.common.registry_replica import RegistryReplica
from services.reporting import projections
from services.reporting.service import Reports
from services.reporting.store import ReadModel
from tests.fakes.mongo import FakeDatabase
from tests.unit.reporting_samples import accepted

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"


def test_submission_keeps_first_receipt_and_latest_content_apart() -> None:
    first, latest = projections.submission_parts(accepted("police:phu-tho", revision=2))
    assert first["first_revision"] == 2 and first["on_time"] is True
    assert first["first_received_at"].isoformat() == "2026-11-20T03:00:00+00:00"
    assert latest["revision"] == 2 and latest["unit_type"] == "police"
    assert latest["contents"]["propaganda"] == {
        "summary": "Tuyên truyền", "indicators": {"propaganda_sessions": 5.5},
        "evidence_count": 0}


def test_submission_keeps_only_numeric_indicators_and_bounded_summaries() -> None:
    data = accepted("police:phu-tho", contents={"propaganda": {
        "summary": "x" * 10_000, "indicators": {"a": 1, "b": True, "c": "7"}}})
    _, latest = projections.submission_parts(data)
    item = latest["contents"]["propaganda"]
    assert item["indicators"] == {"a": 1}
    assert len(item["summary"]) == projections.SUMMARY_LIMIT


def test_a_rescoring_of_the_same_revision_orders_after_the_first_scoring() -> None:
    base = {"unit_id": "police:phu-tho", "period": 2026, "total": 80, "max": 100,
            "breakdown": [], "rubric_version": "r1", "submission_id": "s", "revision": 3}
    first = projections.score_doc({**base, "scored_at": "2026-11-20T03:00:00Z"}, "x")
    again = projections.score_doc({**base, "scored_at": "2026-11-21T03:00:00Z"}, "x")
    newer = projections.score_doc({**base, "revision": 4,
                                   "scored_at": "2026-11-19T00:00:00Z"}, "x")
    assert first["order"] < again["order"] < newer["order"]
    # Without scored_at the event's own time orders it.
    bare = projections.score_doc(base, "2026-11-22T00:00:00+07:00")
    assert bare["scored_at"].isoformat() == "2026-11-21T17:00:00+00:00"


def test_reminder_status_follows_time_then_progress() -> None:
    data = {"unit_id": "police:lang-son", "period": 2026, "stage": "d-7", "channel": "sms",
            "recipient": "+84990000201", "status": "sent", "sent_at": "2026-11-23T01:00:04Z"}
    sent = projections.reminder_doc("vn.emulation.notification.sent", "2026-11-23T01:00:05Z",
                                    data)
    delivered = projections.reminder_doc(
        "vn.emulation.notification.delivered", "2026-11-23T01:00:05Z",
        {**data, "status": "delivered"})
    assert sent["_id"] == delivered["_id"] == "police:lang-son|2026|d-7|sms|+84990000201"
    assert sent["order"] < delivered["order"]  # same second: delivered wins


def test_standings_computed_later_win_even_when_the_business_clock_went_back() -> None:
    data = json.loads((EXAMPLES / "cluster-standings.json").read_text("utf-8"))["data"]
    early = projections.standings_doc({**data, "computed_at": "2050-12-10T03:00:00+00:00",
                                       "sequence": 1_700_000_000_000_000})
    later = projections.standings_doc({**data, "computed_at": "2026-11-20T02:00:00+00:00",
                                       "sequence": 1_700_000_000_000_001})
    assert early["order"] < later["order"]
    # Without a sequence (older producers) the computation time orders, in the same unit.
    undated = projections.standings_doc({**data, "computed_at": "2026-11-20T02:00:00+00:00"})
    assert undated["order"] == f"{1795140000 * 1_000_000:020d}"
    assert projections.leadership_doc({**data, "head": None, "decided_at": None})["order"] \
        == f"{0:020d}"


@pytest.mark.parametrize("name", ["cluster-standings", "recognition-proposals",
                                  "cluster-leadership", "score-computed", "notification"])
def test_the_scoring_and_notification_examples_project(name: str) -> None:
    path = EXAMPLES / f"{name}.json"
    if not path.exists():
        pytest.skip(f"{path.name} is not there yet (owned by the scoring service)")
    event = json.loads(path.read_text(encoding="utf-8"))
    data = event["data"]
    doc: dict[str, Any] = {
        "cluster-standings": lambda: projections.standings_doc(data),
        "recognition-proposals": lambda: projections.proposals_doc(data),
        "cluster-leadership": lambda: projections.leadership_doc(data),
        "score-computed": lambda: projections.score_doc(data, event["time"]),
        "notification": lambda: projections.reminder_doc(event["type"], event["time"], data),
    }[name]()
    assert doc["_id"] and doc["order"]


class FakeModel(ReadModel):
    """Records which writes a projection asks for, and writes nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def apply_standings(self, doc: dict[str, Any]) -> bool:
        self.calls.append(("apply_standings", doc))
        return True

    async def apply_proposals(self, doc: dict[str, Any]) -> bool:
        self.calls.append(("apply_proposals", doc))
        return True

    async def apply_leadership(self, doc: dict[str, Any]) -> bool:
        self.calls.append(("apply_leadership", doc))
        return True

    async def advance_watermark(self, when: datetime | None) -> None:
        self.calls.append(("advance_watermark", when))


def reports_on(model: ReadModel) -> Reports:
    """The projections over `model`, with an empty registry (they do not read it)."""
    return Reports(model=model, replica=RegistryReplica(FakeDatabase()), clock=Clock())


def event(type_: str, data: dict[str, Any], schema: str = "x") -> Event:
    return new_event(type=type_, source="t", subject="s", data=data, schema=schema,
                     id="e1")


def test_each_score_topic_event_type_goes_to_its_own_read_model() -> None:
    model = FakeModel()
    reports = reports_on(model)
    standings = {"cluster_id": "mps-cluster-4", "period": 2026, "standings": [],
                 "computed_at": "2026-11-20T00:00:00Z"}
    asyncio.run(reports.on_score(event("vn.emulation.cluster.standings", standings)))
    asyncio.run(reports.on_score(event("vn.emulation.recognition.proposals",
                                       {"period": 2026, "proposals": []})))
    asyncio.run(reports.on_score(event("vn.emulation.cluster.leadership",
                                       {"cluster_id": "mps-cluster-4", "period": 2027})))
    asyncio.run(reports.on_score(event("vn.emulation.something.else", {})))
    writes = [name for name, _ in model.calls if name != "advance_watermark"]
    assert writes == ["apply_standings", "apply_proposals", "apply_leadership"]
    assert [n for n, _ in model.calls].count("advance_watermark") == 3


def test_an_event_without_what_reporting_needs_is_rejected_at_once() -> None:
    reports = reports_on(FakeModel())
    with pytest.raises(Rejected) as rejected:
        asyncio.run(reports.on_score(event("vn.emulation.cluster.standings", {"period": 1})))
    assert rejected.value.reason == "unusable-event"
