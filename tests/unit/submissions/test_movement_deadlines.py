"""Issue 14, point 2: an operator's deadline for a movement and period (submissions'
`Deadlines`), its event on the registry topic, and what the API shows without one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from services.common import schemas
from services.submissions import deadlines as dl
from tests.fakes.kafka import FakeProducer
from tests.fakes.mongo import FakeDatabase

SET = {"movement": "vi-an-ninh", "period": 2031, "deadline": "2031-11-20T23:59:59+07:00",
       "set_by": "Kiểm thử", "set_at": "2031-10-01T02:00:00+00:00", "reason": "họp sớm"}


def test_without_a_setting_the_labelled_default_is_shown() -> None:
    shown = dl.describe(2031, "vi-an-ninh", None)
    assert shown["source"] == "default" and shown["deadline"] == "2031-11-26T23:59:59+07:00"
    assert shown["basis"].startswith("platform default, configurable")
    assert dl.describe(2031, "toan-dan", None)["deadline"] == "2031-11-30T23:59:59+07:00"
    assert dl.describe(2031, "vi-an-ninh", SET)["source"] == "operator"


def test_a_setting_is_stored_published_and_judged_by() -> None:
    db, producer = FakeDatabase(), FakeProducer()
    store = dl.Deadlines(db=db, producer=producer)

    async def run() -> tuple[datetime, datetime, datetime]:
        before = await store.deadline(2031, "vi-an-ninh")
        await store.set(dict(SET))
        return (before, await store.deadline(2031, "vi-an-ninh"),
                await store.deadline(2031, "toan-dan"))

    before, after, other = asyncio.run(run())
    assert before.astimezone(UTC) == datetime(2031, 11, 26, 16, 59, 59, tzinfo=UTC)
    assert after.astimezone(UTC) == datetime(2031, 11, 20, 16, 59, 59, tzinfo=UTC)
    assert other.astimezone(UTC) == datetime(2031, 11, 30, 16, 59, 59, tzinfo=UTC)
    event = dl.deadline_event(dict(SET))
    assert producer.ids == [event.id]
    assert (event.type, event.subject) == ("vn.emulation.registry.deadline",
                                           "vi-an-ninh|deadline|2031")
    assert schemas.errors("deadline-set.v1", event.to_dict()) == []


def test_the_same_setting_again_is_the_same_event() -> None:
    assert dl.deadline_event(dict(SET)).id == dl.deadline_event(
        {**SET, "set_at": "2031-10-02T02:00:00+00:00"}).id
    assert dl.deadline_event(dict(SET)).id != dl.deadline_event(
        {**SET, "deadline": "2031-11-21T23:59:59+07:00"}).id
