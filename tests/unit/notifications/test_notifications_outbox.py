"""The notification events the service produces (outbox.py): every one is a valid
notification.v2 (contracts.Notification), names its movement, and its type says its
status, whichever part of the service produced it."""

from __future__ import annotations

from datetime import datetime

from services.common.envelope import Event, new_event
from services.common.registry_replica import UNIT_EVENT
from services.common.schemas import errors
from services.notifications.domain import VN_TZ, digest_stage, ledger_key
from services.notifications.models import LedgerEntry
from services.notifications.outbox import entry_notification
from tests.unit.notifications_support import PERIOD, World, run, unit_doc

NATIONAL = "ministry:public-security"


def test_a_pass_produces_valid_v2_events_with_their_movement() -> None:
    async def go() -> list[Event]:
        # 1 December, 22:00 Hanoi: overdue-1 is current and escalates; SMS wait (quiet).
        w = World(datetime(PERIOD, 12, 1, 22, 0, tzinfo=VN_TZ))
        await w.setup()
        await w.replica.apply(Event(id="e-national", type=UNIT_EVENT, source="t",
                                    subject=NATIONAL, time="", dataschema="",
                                    data={**unit_doc(NATIONAL, 9), "type": "ministry"}))
        await w.scheduler.run_pass("tick")
        return w.producer.events

    events = run(go())
    statuses = {(e.data["kind"], e.data["status"]) for e in events}
    assert {("reminder", "sent"), ("reminder", "deferred"), ("digest", "sent")} <= statuses
    for event in events:
        assert errors("notification.v2", event.to_dict()) == [], event.data
        assert event.type == f"vn.emulation.notification.{event.data['status']}"
        assert event.data["movement"] == "toan-dan"  # provinces and a ministry
        assert event.dataschema.endswith(":notification:v2")


def test_an_entrys_event_is_filed_under_its_units_movement() -> None:
    """Events about a ledger entry (abandoned, resolved, a delivery receipt) name the
    movement of the entry's unit: for a digest of `vi-an-ninh`, its recipient's."""
    stage = digest_stage("overdue-1", "vi-an-ninh")
    entry: LedgerEntry = {
        "_id": ledger_key(NATIONAL, PERIOD, stage, "email", "a@example.vn"),
        "unit_id": NATIONAL, "period": PERIOD, "stage": stage, "channel": "email",
        "recipient": "a@example.vn", "kind": "digest", "status": "unknown"}
    data = entry_notification(entry, "unknown")
    assert data["movement"] == "toan-dan" and data["kind"] == "digest"
    assert data["stage"] == "overdue-1-digest@vi-an-ninh"
    event = new_event(type="vn.emulation.notification.unknown", source="t", subject=NATIONAL,
                      data={**data, "detail": "abandoned"}, schema="notification", version=2)
    assert errors("notification.v2", event.to_dict()) == []
    police = entry_notification({**entry, "unit_id": "police:phu-tho",
                                 "stage": "overdue-1", "kind": "reminder"}, "failed")
    assert police["movement"] == "vi-an-ninh"
