"""The synthesis for the Prime Minister as the operators' own tracked task (issue 14,
point 2).

The plan (seed 000) asks the MPS and the MOHA to put the synthesis of the `toan-dan`
movement before the Prime Minister "trước ngày 30/11". That is the operators' task, not
the units': it has its own due date, a state (open, drafted, sent), who moved it and
when, reminders to the operators as it approaches, and an at-risk flag the alert rule
watches. Whether "trước ngày 30/11" includes the 30th is the platform's reading: the
default due date is labelled so and an operator sets another with
`PUT /v1/milestones/{period}`.

Plain functions over plain data first; the store and the reminder pass below them (the
routes: api_milestones.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.common.clock import Clock
from services.common.ports import Database
from services.notifications import metrics
from services.notifications.dispatch import SENT, Dispatcher
from services.notifications.models import Milestone, MilestoneView
from services.notifications.providers import Email
from services.notifications.store import MilestoneStore

log = logging.getLogger(__name__)
VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
OPEN, DRAFTED, DONE = "open", "drafted", "sent"
# Platform defaults, configurable per period (PUT /v1/milestones/{period}).
DUE_READING = ("platform default: the platform's reading of the plan's \"trước ngày "
               "30/11\" (seed 000) as the end of 29 November, Hanoi time, so the synthesis "
               "reaches the Prime Minister before the 30th; an operator sets another")
REMINDER_DAYS = (7, 3, 1, 0)  # platform default: days before the due date, 09:00 Hanoi
AT_RISK_DAYS = 3  # platform default: not drafted this close to the due date is at risk


def default_due(period: int) -> datetime:
    return datetime.combine(date(period, 11, 29), time(23, 59, 59), tzinfo=VN_TZ)


@dataclass(frozen=True)
class Status:
    at_risk: bool
    overdue: bool
    reason: str


def status(state: str, due: datetime, now: datetime) -> Status:
    """Whether the task is at risk: sent is never; past the due date unsent is overdue;
    not drafted within AT_RISK_DAYS of it is at risk."""
    if state == DONE:
        return Status(False, False, "sent")
    if now > due:
        return Status(True, True, "the due date has passed and the synthesis is not sent")
    if state == OPEN and now >= due - timedelta(days=AT_RISK_DAYS):
        return Status(True, False, f"not drafted {AT_RISK_DAYS} days before the due date")
    return Status(False, False, "on track")


def due_reminder(due: datetime, now: datetime, sent: set[str]) -> str | None:
    """The reminder stage due now and not sent yet (the latest one only: an operator
    needs one message, not a backlog), or None."""
    for days in sorted(REMINDER_DAYS):
        at = datetime.combine((due - timedelta(days=days)).astimezone(VN_TZ).date(),
                              time(9, 0), tzinfo=VN_TZ)
        if now >= at:
            stage = f"d-{days}"
            return None if stage in sent else stage
    return None


def reminder_text(period: int, stage: str, due: datetime, state: str) -> tuple[str, str]:
    subject = (f"Nhắc việc: báo cáo tổng hợp phong trào Toàn dân bảo vệ an ninh Tổ quốc năm "
               f"{period} trình Thủ tướng Chính phủ")
    body = (f"Hạn gửi báo cáo tổng hợp: {due.astimezone(VN_TZ):%d/%m/%Y %H:%M} (giờ Hà Nội; "
            f"mốc mặc định của hệ thống, có thể điều chỉnh). Trạng thái hiện tại: "
            f"{ {OPEN: 'chưa dự thảo', DRAFTED: 'đã dự thảo', DONE: 'đã gửi'}[state] }. "
            f"Lần nhắc: {stage}.")
    return subject, body


class Milestones:
    def __init__(self, *, db: Database, clock: Clock, dispatcher: Dispatcher,
                 recipients: list[str], email_domain: str) -> None:
        self.store = MilestoneStore(db)
        self.clock, self.dispatcher = clock, dispatcher
        self.recipients, self.email_domain = recipients, email_domain

    async def get(self, period: int) -> Milestone:
        doc = await self.store.get(period)
        return doc or {"_id": period, "period": period, "state": OPEN, "history": [],
                       "reminders": {}, "due": None, "recipients": None}

    def view(self, doc: Milestone) -> MilestoneView:
        due = _due(doc)
        found = status(doc["state"], due, self.clock.now())
        by_state = {h["state"]: h for h in doc.get("history", [])}
        drafted, done = by_state.get(DRAFTED), by_state.get(DONE)
        return {"period": doc["period"], "movement": "toan-dan",
                "task": "the synthesis for the Prime Minister",
                "due": due.isoformat(),
                "due_source": "operator" if doc.get("due") else DUE_READING,
                "state": doc["state"],
                "drafted_by": drafted["by"] if drafted else None,
                "drafted_at": drafted["at"] if drafted else None,
                "sent_by": done["by"] if done else None,
                "sent_at": done["at"] if done else None,
                "at_risk": found.at_risk, "overdue": found.overdue, "why": found.reason,
                "recipients": doc.get("recipients") or self.recipients,
                "reminders": doc.get("reminders", {}), "history": doc.get("history", [])}

    async def update(self, period: int, *, by: str, state: str | None,
                     due: datetime | None, recipients: list[str] | None) -> Milestone:
        doc = await self.get(period)
        if due is not None:
            doc["due"] = due
        if recipients is not None:
            doc["recipients"] = recipients
        if state is not None and state != doc["state"]:
            doc["state"] = state
            doc["history"] = [*doc.get("history", []), {
                "state": state, "by": by, "at": self.clock.now().isoformat()}]
        await self.store.put(period, doc)
        return doc

    async def remind(self) -> int:
        """Send the reminder due now of every tracked, unsent milestone (once each: the
        stage is claimed in the document before the e-mail goes); update the gauge."""
        sent = 0
        now = self.clock.now()
        for doc in await self.store.all():
            due = _due(doc)
            metrics.MILESTONE_AT_RISK.labels(str(doc["period"])).set(
                1 if status(doc["state"], due, now).at_risk else 0)
            stage = None if doc["state"] == DONE else due_reminder(
                due, now, set(doc.get("reminders", {})))
            if stage is None:
                continue
            if not await self.store.claim_reminder(doc["_id"], stage, now.isoformat()):
                continue
            subject, body = reminder_text(doc["period"], stage, due, doc["state"])
            for to in doc.get("recipients") or self.recipients:
                key = f"milestone-{doc['period']}-{stage}-{to}"
                outcome = await self.dispatcher.deliver("email", Email(
                    key=key, to=to, subject=subject, body=body, date=now,
                    message_id=f"<{key}@{self.email_domain}>"))
                sent += outcome.outcome == SENT
                log.info("synthesis milestone reminder", extra={"fields": {
                    "period": doc["period"], "stage": stage, "to": to,
                    "outcome": outcome.outcome}})
        return sent


def _due(doc: Milestone) -> datetime:
    due = doc.get("due")
    if isinstance(due, str):
        due = datetime.fromisoformat(due)
    if isinstance(due, datetime):
        return due if due.tzinfo else due.replace(tzinfo=ZoneInfo("UTC"))
    return default_due(int(doc["period"]))
