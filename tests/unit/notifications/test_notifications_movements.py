"""Issue 14: a reminder belongs to exactly one movement. The period's campaign runs for
each movement's units from that movement's deadline: `toan-dan` from the campaign's (30
November by default), `vi-an-ninh` from its own (26 November by default, or an
operator's setting); a supervising body hearing about both gets one digest of each.
On the in-memory database with fake providers (the real stack: test_notifications_season)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from services.common.envelope import Event
from services.common.pagination import PageRequest
from services.common.registry_replica import DEADLINE_EVENT, UNIT_EVENT
from services.notifications.campaigns import CampaignInvalid, build_campaign, load_defaults
from services.notifications.domain import (
    VN_TZ,
    digest_stage,
    entry_movement,
    for_movement,
    ledger_key,
    message_id,
    stage_parts,
)
from services.notifications.templates import Templates, reminder_values
from tests.unit.notifications_support import (
    PERIOD,
    World,
    local,
    run,
    unit_doc,
)

POLICE, PROVINCE = "police:b", "province:a"
NATIONAL = "ministry:public-security"


def test_a_digest_stage_names_its_movement_and_reads_back() -> None:
    assert digest_stage("overdue-1") == "overdue-1-digest"  # as before movements
    assert digest_stage("overdue-1", "vi-an-ninh") == "overdue-1-digest@vi-an-ninh"
    assert stage_parts("overdue-1-digest@vi-an-ninh") == ("overdue-1", "vi-an-ninh")
    assert stage_parts("overdue-1-digest") == ("overdue-1", "toan-dan")
    assert stage_parts("d-7") == ("d-7", None)
    assert entry_movement(POLICE, "d-7") == "vi-an-ninh"
    assert entry_movement(NATIONAL, "overdue-1-digest@vi-an-ninh") == "vi-an-ninh"
    assert entry_movement(NATIONAL, "overdue-1-digest") == "toan-dan"
    mid = message_id(ledger_key(NATIONAL, PERIOD, "overdue-1-digest@vi-an-ninh", "email",
                                "a@b.example"), "n.example")
    assert mid.count("@") == 1 and mid.startswith("<2040.overdue-1-digest.vi-an-ninh.")
    with pytest.raises(CampaignInvalid, match="not usable"):
        build_campaign(PERIOD, {**load_defaults(), "stages": [
            {"name": "d@7", "days": -7, "hour": 9}]})


def test_each_movement_counts_from_its_own_deadline() -> None:
    c = build_campaign(PERIOD, load_defaults())
    assert for_movement(c, "toan-dan", None) == c
    police = for_movement(c, "vi-an-ninh", None)
    assert police.deadline == datetime(PERIOD, 11, 26, 23, 59, 59, tzinfo=VN_TZ)
    assert (police.movement, police.stages) == ("vi-an-ninh", c.stages)
    set_by_operator = for_movement(c, "vi-an-ninh", {"deadline": f"{PERIOD}-11-20T17:00:00+07:00"})
    assert set_by_operator.deadline == datetime(PERIOD, 11, 20, 17, tzinfo=VN_TZ)


def test_a_police_reminder_names_its_movement_and_deadline() -> None:
    c = for_movement(build_campaign(PERIOD, load_defaults()), "vi-an-ninh", None)
    stage = c.stages[2]
    unit = {"_id": POLICE, "name": "Công an tỉnh B", "contacts": {"language": "vi"}}
    vi = Templates().reminder(lang="vi", stage=stage, channel="email", values=reminder_values(
        unit=unit, campaign=c, stage=stage, now=local(19, 9), lang="vi"))
    assert "Vì an ninh Tổ quốc" in vi.body and "Toàn dân" not in vi.body
    assert "26/11/2040" in vi.body and "Cục Công tác Đảng" in vi.body
    en = Templates().reminder(lang="en", stage=stage, channel="email", values=reminder_values(
        unit=unit, campaign=c, stage=stage, now=local(19, 9), lang="en"))
    assert "For the Fatherland's security" in en.body and "26 November 2040" in en.body


async def movement_world(when: datetime) -> World:
    w = World(when, units=[PROVINCE, POLICE, NATIONAL])
    await w.setup()
    # the police unit and the national body as the registry types them
    for n, (uid, kind) in enumerate(((POLICE, "police"), (NATIONAL, "ministry")), start=7):
        await w.replica.apply(Event(id=f"t{n}", type=UNIT_EVENT, source="t", subject=uid,
                                    time="", dataschema="",
                                    data={**unit_doc(uid, n), "type": kind}))
    return w


def reminded(w: World) -> set[tuple[str, str]]:
    return {(d["unit_id"], d["stage"]) for d in w.db["ledger"].docs.values()}


def events_of(w: World) -> list[Event]:
    return w.producer.events


def by_movement(report: Any) -> dict[str, Any]:
    return {c.movement: c for c in report.campaigns if c.period == PERIOD}


def test_police_units_are_reminded_from_26_november_the_others_from_30() -> None:
    async def go() -> None:
        # 19 November 09:05: vi-an-ninh's d-7; toan-dan's d-14 (16 November) is stale.
        w = await movement_world(local(19, 9, 5))
        runs = by_movement(await w.scheduler.run_pass("test"))
        assert (runs["vi-an-ninh"].stage, runs["toan-dan"].stage) == ("d-7", None)
        assert runs["vi-an-ninh"].units == 1
        assert reminded(w) == {(POLICE, "d-7")}
        mail = next(m for m in w.email.sent)
        assert "Vì an ninh Tổ quốc" in mail.body and "26/11/2040" in mail.body
        # 23 November 09:05: toan-dan's d-7 and vi-an-ninh's d-3, each to its own units
        w.clock.when = local(23, 9, 5)
        runs = by_movement(await w.scheduler.run_pass("test"))
        assert (runs["vi-an-ninh"].stage, runs["toan-dan"].stage) == ("d-3", "d-7")
        assert reminded(w) == {(POLICE, "d-7"), (POLICE, "d-3"), (PROVINCE, "d-7"),
                               (NATIONAL, "d-7")}
        sent = [e for e in events_of(w) if e.data.get("status") == "sent"]
        assert {(e.data["unit_id"], e.data["movement"]) for e in sent} == {
            (POLICE, "vi-an-ninh"), (PROVINCE, "toan-dan"), (NATIONAL, "toan-dan")}

    run(go())


def test_an_operators_deadline_moves_the_police_reminders() -> None:
    async def go() -> None:
        w = await movement_world(local(13, 9, 5))
        await w.replica.apply(Event(
            id="d1", type=DEADLINE_EVENT, source="t", subject=f"vi-an-ninh|deadline|{PERIOD}",
            time="", dataschema="", data={"movement": "vi-an-ninh", "period": PERIOD,
                                          "deadline": f"{PERIOD}-11-20T23:59:59+07:00"}))
        runs = by_movement(await w.scheduler.run_pass("test"))
        assert runs["vi-an-ninh"].stage == "d-7"  # 13 November is d-7 of 20 November
        assert reminded(w) == {(POLICE, "d-7")}

    run(go())


def test_a_body_hearing_about_both_movements_gets_one_digest_of_each() -> None:
    async def go() -> None:
        # 29 November 09:05: vi-an-ninh's overdue-3 (escalates), toan-dan's d-1 (does not)
        w = await movement_world(local(29, 9, 5))
        await w.scheduler.run_pass("test")
        police_digest = ledger_key(NATIONAL, PERIOD, "overdue-3-digest@vi-an-ninh", "email",
                                   "u8@example.vn")
        entry = w.db["ledger"].docs[police_digest]
        assert entry["units"] == [POLICE] and entry["kind"] == "digest"
        # 3 December 09:05: toan-dan's overdue-3: its own digest, listing its own units
        w.clock.when = datetime(PERIOD, 12, 3, 9, 5, tzinfo=VN_TZ)
        await w.scheduler.run_pass("test")
        people_digest = ledger_key(NATIONAL, PERIOD, "overdue-3-digest", "email",
                                   "u8@example.vn")
        assert w.db["ledger"].docs[people_digest]["units"] == [PROVINCE]
        assert w.db["ledger"].docs[police_digest]["units"] == [POLICE]  # kept as it was
        digests = {(e.data["stage"], e.data["movement"]) for e in events_of(w)
                   if e.data.get("kind") == "digest" and e.data.get("status") == "sent"}
        assert digests == {("overdue-3-digest@vi-an-ninh", "vi-an-ninh"),
                           ("overdue-3-digest", "toan-dan")}
        # the body's own listing shows both, by their keys (no scan)
        rows, _ = await w.service.notifications(
            unit_id=NATIONAL, period=PERIOD, page=PageRequest(limit=100))
        assert {r["stage"] for r in rows if r["kind"] == "digest"} >= {
            "overdue-3-digest@vi-an-ninh", "overdue-3-digest"}

    run(go())



def test_completeness_gauges_count_each_movement_against_its_own_deadline() -> None:
    from prometheus_client import REGISTRY

    async def go() -> None:
        w = await movement_world(local(20, 9))
        await w.service.on_submission(w.submission(POLICE))
        await w.service.publish_gauges()

    run(go())
    period = str(PERIOD)

    def units(movement: str, state: str) -> float | None:
        return REGISTRY.get_sample_value("campaign_units", {
            "period": period, "movement": movement, "state": state})

    assert (units("vi-an-ninh", "expected"), units("vi-an-ninh", "submitted")) == (1, 1)
    assert (units("toan-dan", "expected"), units("toan-dan", "submitted")) == (2, 0)
    deadlines = {m: REGISTRY.get_sample_value("campaign_deadline_timestamp_seconds", {
        "period": period, "movement": m}) for m in ("toan-dan", "vi-an-ninh")}
    assert deadlines == {
        "toan-dan": datetime(PERIOD, 11, 30, 23, 59, 59, tzinfo=VN_TZ).timestamp(),
        "vi-an-ninh": datetime(PERIOD, 11, 26, 23, 59, 59, tzinfo=VN_TZ).timestamp()}


def test_the_campaign_read_shows_each_movements_run() -> None:
    async def go() -> list[Any]:
        w = await movement_world(local(13, 9))
        campaign = await w.service.campaign(PERIOD)
        assert campaign is not None
        return await w.service.runs(campaign)

    runs = {r.movement: r for r in run(go())}
    assert runs["toan-dan"].deadline == datetime(PERIOD, 11, 30, 23, 59, 59, tzinfo=VN_TZ)
    assert runs["vi-an-ninh"].deadline == datetime(PERIOD, 11, 26, 23, 59, 59, tzinfo=VN_TZ)
