"""The synthesis for the Prime Minister as the operators' tracked task (issue 14, point
2): its own due date (a labelled, configurable reading of "trước ngày 30/11"), its state
and who moved it, reminders to the operators once per stage, the at-risk flag."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from services.common.clock import ControlledClock
from services.notifications.dispatch import SENT, Delivery, Dispatcher, OnAttempt
from services.notifications.metrics import MILESTONE_AT_RISK
from services.notifications.milestone import (
    DUE_READING,
    VN_TZ,
    Milestones,
    default_due,
    due_reminder,
    status,
)
from services.notifications.providers import Message
from tests.fakes.mongo import FakeDatabase

PERIOD = 2089


class FakeDispatcher(Dispatcher):
    def __init__(self) -> None:  # no providers: every message is sent
        self.sent: list[tuple[str, Any]] = []

    async def deliver(self, channel: str, message: Message, on_attempt: OnAttempt | None = None
                      ) -> Delivery:
        self.sent.append((channel, message))
        return Delivery(outcome=SENT)


def at(day: int, hour: int = 9, minute: int = 5) -> datetime:
    return datetime(PERIOD, 11, day, hour, minute, tzinfo=VN_TZ)


def test_the_due_date_is_the_platforms_labelled_reading_before_the_30th() -> None:
    due = default_due(PERIOD)
    assert (due.month, due.day, due.hour, due.minute) == (11, 29, 23, 59)
    assert "platform default" in DUE_READING and "30/11" in DUE_READING


def test_at_risk_when_not_drafted_close_to_the_due_date_and_overdue_when_unsent() -> None:
    due = default_due(PERIOD)
    assert not status("open", due, at(20)).at_risk
    assert status("open", due, at(27)).at_risk
    assert not status("drafted", due, at(27)).at_risk
    late = status("drafted", due, datetime(PERIOD, 11, 30, 9, tzinfo=VN_TZ))
    assert late.at_risk and late.overdue
    assert not status("sent", due, datetime(PERIOD, 12, 5, tzinfo=VN_TZ)).at_risk


def test_only_the_latest_stage_due_is_sent() -> None:
    due = default_due(PERIOD)
    assert due_reminder(due, at(21), set()) is None
    assert due_reminder(due, at(22), set()) == "d-7"
    assert due_reminder(due, at(28), set()) == "d-1"  # not the d-7 and d-3 backlog
    assert due_reminder(due, at(28), {"d-1"}) is None


def test_reminders_go_once_to_the_operators_and_stop_when_sent() -> None:
    async def go() -> None:
        clock, dispatcher, db = ControlledClock(), FakeDispatcher(), FakeDatabase()
        milestones = Milestones(db=db, clock=clock, dispatcher=dispatcher,
                                recipients=["a@ops.example", "b@ops.example"],
                                email_domain="test.example")
        clock.set(at(20))
        view = milestones.view(await milestones.get(PERIOD))
        assert (view["state"], view["at_risk"], view["due_source"]) == (
            "open", False, DUE_READING)
        await milestones.update(PERIOD, by="Operator A", state=None, due=None,
                                recipients=None)  # tracked from now on
        assert await milestones.remind() == 0
        clock.set(at(22))
        assert await milestones.remind() == 2
        assert await milestones.remind() == 0  # the stage is claimed: never twice
        assert {m.to for _, m in dispatcher.sent} == {"a@ops.example", "b@ops.example"}
        assert all("Thủ tướng" in m.subject for _, m in dispatcher.sent)
        clock.set(at(27))
        await milestones.remind()
        assert MILESTONE_AT_RISK.labels(str(PERIOD))._value.get() == 1
        doc = await milestones.update(PERIOD, by="Operator A", state="drafted", due=None,
                                      recipients=None)
        clock.set(at(28, 15))
        doc = await milestones.update(PERIOD, by="Operator B", state="sent", due=None,
                                      recipients=None)
        view = milestones.view(doc)
        assert (view["drafted_by"], view["sent_by"], view["state"]) == (
            "Operator A", "Operator B", "sent")
        before = len(dispatcher.sent)
        clock.set(at(29))
        assert await milestones.remind() == 0 and len(dispatcher.sent) == before
        assert MILESTONE_AT_RISK.labels(str(PERIOD))._value.get() == 0
        moved = await milestones.update(PERIOD + 1, by="Operator A", state=None,
                                        due=datetime(PERIOD + 1, 11, 25, tzinfo=UTC),
                                        recipients=None)
        assert milestones.view(moved)["due_source"] == "operator"

    asyncio.run(go())
