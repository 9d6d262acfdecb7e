"""A rebuild's fold: of one key's submissions replayed together, only those whose effect
no other holds are applied, and the read models end exactly as with every one applied,
whatever the revisions, their order, their redeliveries and their times."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common import event_types
from services.common.clock import Clock
from services.common.envelope import Event, new_event
from services.common.registry_replica import RegistryReplica
from services.reporting import projections
from services.reporting.service import Reports
from services.reporting.store import ReadModel
from tests.fakes.mongo import FakeDatabase
from tests.unit.reporting_samples import accepted

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def submission(unit: str, revision: int, minute: int, period: int = 2026,
               type_: str = event_types.SUBMISSION_ACCEPTED) -> Event:
    data: dict[str, Any] = {**accepted(unit, revision=revision,
                                       received=(T0 + timedelta(minutes=revision)).isoformat(),
                                       on_time=revision < 3), "period": period}
    return new_event(type=type_, source="t", subject=unit, data=data,
                     schema="submission-accepted", id=f"{unit}.{period}.{revision}.{minute}",
                     time=T0 + timedelta(minutes=minute))


def applied(events: list[Event]) -> dict[str, Any]:
    db = FakeDatabase()
    reports = Reports(model=ReadModel(db, watermark_seconds=0.0),
                      replica=RegistryReplica(FakeDatabase()), clock=Clock())

    async def run() -> None:
        for event in events:
            await reports.on_submission(event)
        await reports.model.flush()

    asyncio.run(run())
    state = db.state()
    meta = state.get("rm_meta", {})
    # A period's version token is new at each change: that it changed is what counts.
    return {"rm_submissions": state.get("rm_submissions"),
            "watermark": meta.get("watermark"),
            "versions": sorted(k for k in meta if k.startswith("version|"))}


def test_only_the_lowest_and_highest_revision_and_the_latest_time_are_kept() -> None:
    events = [submission("police:lang-son", r, minute=m)
              for r, m in ((3, 1), (1, 2), (5, 3), (2, 9), (4, 4), (5, 5))]
    kept = projections.fold_submissions(events)
    # revision 1 (lowest), both 5s (highest, a redelivery), revision 2 (latest time);
    # in the order they came
    assert [e.id for e in kept] == ["police:lang-son.2026.1.2", "police:lang-son.2026.5.3",
                                    "police:lang-son.2026.2.9", "police:lang-son.2026.5.5"]


def test_each_unit_and_period_folds_on_its_own() -> None:
    events = [submission("police:lang-son", r, minute=r) for r in (1, 2, 3)]
    events += [submission("police:lang-son", r, minute=10 + r, period=2027) for r in (4, 5, 6)]
    events += [submission("province:ha-giang", r, minute=20 + r) for r in (7, 8, 9)]
    kept = {(e.data["unit_id"], e.data["period"], e.data["revision"])
            for e in projections.fold_submissions(events)}
    assert kept == {("police:lang-son", 2026, 1), ("police:lang-son", 2026, 3),
                    ("police:lang-son", 2027, 4), ("police:lang-son", 2027, 6),
                    ("province:ha-giang", 2026, 7), ("province:ha-giang", 2026, 9)}


@pytest.mark.parametrize("data", [
    {"unit_id": "police:lang-son", "period": 2026, "revision": "2"},
    {"unit_id": "police:lang-son", "period": True, "revision": 2},
    {"unit_id": None, "period": 2026, "revision": 2},
    {"period": 2026, "revision": 2},
])
def test_what_the_fold_cannot_read_is_kept_for_its_handler(data: dict[str, Any]) -> None:
    events = [submission("police:lang-son", r, minute=r) for r in (1, 2, 3, 4)]
    odd = new_event(type=event_types.SUBMISSION_ACCEPTED, source="t", subject="s",
                    data=data, schema="x", id="odd", time=T0)
    other = submission("police:lang-son", 2, minute=2, type_="vn.emulation.other")
    kept = projections.fold_submissions([*events[:2], odd, other, *events[2:]])
    assert [e.id for e in kept] == ["police:lang-son.2026.1.1", "odd", other.id,
                                    "police:lang-son.2026.4.4"]


@pytest.mark.parametrize("seed", range(25))
def test_the_folded_records_leave_the_read_models_as_all_of_them(seed: int) -> None:
    rng = random.Random(seed)
    events = [submission(rng.choice(["police:lang-son", "province:ha-giang"]),
                         rng.randint(1, 6), minute=rng.randint(0, 50),
                         period=rng.choice([2026, 2027]))
              for _ in range(rng.randint(2, 30))]
    events += rng.sample(events, min(3, len(events)))  # redeliveries
    kept = projections.fold_submissions(events)
    assert {e.id for e in kept} <= {e.id for e in events}
    assert applied(kept) == applied(events)
