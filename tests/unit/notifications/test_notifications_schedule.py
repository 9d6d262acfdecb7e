"""Reminder rules as plain functions: stage times, catch-up after downtime, quiet hours,
audiences, escalation targets, the ledger key and the unit's partition."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from kafka.partitioner.default import murmur2 as kafka_murmur2

from services.notifications.campaigns import (
    CampaignInvalid,
    build_campaign,
    campaign_spec,
    load_defaults,
    with_overrides,
)
from services.notifications.domain import (
    VN_TZ,
    Audience,
    Escalation,
    QuietHours,
    current_stage,
    days_left,
    escalation_targets,
    ledger_key,
    message_id,
    murmur2,
    parse_key,
    partition_of,
    quiet_until,
    recipients,
    stage_time,
)

DEFAULTS = load_defaults()


def vn(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN_TZ)


def campaign(period: int = 2040, **overrides: object):
    return with_overrides(period, DEFAULTS, overrides)


def test_default_stages_are_relative_to_30_november_in_hanoi() -> None:
    c = campaign()
    assert c.deadline == vn(2040, 11, 30, 23, 59, 59)
    times = {s.name: stage_time(c, s) for s in c.stages}
    assert times["d-30"] == vn(2040, 10, 31, 9)
    assert times["d-7"] == vn(2040, 11, 23, 9)
    assert times["d-0"] == vn(2040, 11, 30, 8)
    assert times["overdue-1"] == vn(2040, 12, 1, 9)
    assert times["overdue-3"] == vn(2040, 12, 3, 9)
    assert [s.name for s in c.stages if s.escalate] == ["overdue-1", "overdue-3"]
    assert {s.kind for s in c.stages} == {"reminder", "deadline", "overdue"}


@pytest.mark.parametrize("now, stage", [
    (vn(2040, 10, 31, 8, 59), None),                     # nothing due yet
    (vn(2040, 10, 31, 9, 0), "d-30"),
    (vn(2040, 11, 3, 8, 59), "d-30"),                    # still the latest due
    (vn(2040, 11, 3, 9, 0), None),                       # 72 h old: stale
    (vn(2040, 11, 16, 9, 0), "d-14"),
    (vn(2040, 11, 29, 12), "d-1"),
    (vn(2040, 11, 30, 8), "d-0"),
    (vn(2040, 12, 2, 9), "overdue-1"),
    (vn(2040, 12, 5, 9), "overdue-3"),
    (vn(2040, 12, 6, 9), None),                          # the last stage went stale
])
def test_the_current_stage_is_the_latest_due(now: datetime, stage: str | None) -> None:
    due = current_stage(campaign(), now)
    assert (due.stage.name if due else None) == stage


def test_after_downtime_only_the_latest_stage_is_due_and_old_ones_are_skipped() -> None:
    # Down from 20 to 30 November: the service comes back on the deadline day and
    # sends the deadline-day reminder, not d-7, d-3 and d-1 as well.
    due = current_stage(campaign(), vn(2040, 11, 30, 15))
    assert due is not None and due.stage.name == "d-0"
    assert due.expires_at == vn(2040, 12, 1, 9)


def test_a_stage_older_than_the_catch_up_window_is_stale() -> None:
    c = campaign(catch_up_hours=24)
    assert current_stage(c, vn(2040, 10, 31, 9) + timedelta(hours=23)) is not None
    assert current_stage(c, vn(2040, 10, 31, 9) + timedelta(hours=24)) is None


def test_days_left_counts_local_calendar_days() -> None:
    c = campaign()
    assert days_left(c.deadline, vn(2040, 11, 23, 9), VN_TZ) == 7
    assert days_left(c.deadline, vn(2040, 11, 30, 23), VN_TZ) == 0
    assert days_left(c.deadline, vn(2040, 12, 3, 9), VN_TZ) == -3


@pytest.mark.parametrize("local, opens", [
    (vn(2040, 11, 29, 20, 59), None),
    (vn(2040, 11, 29, 21, 0), vn(2040, 11, 30, 7)),
    (vn(2040, 11, 30, 3, 0), vn(2040, 11, 30, 7)),
    (vn(2040, 11, 30, 7, 0), None),
])
def test_quiet_hours_span_midnight(local: datetime, opens: datetime | None) -> None:
    quiet = QuietHours(time(21), time(7))
    assert quiet_until(local, quiet, VN_TZ) == opens
    assert quiet_until(local, None, VN_TZ) is None


def test_quiet_hours_are_in_the_recipients_time_zone() -> None:
    from zoneinfo import ZoneInfo

    quiet = QuietHours(time(21), time(7))
    now = vn(2040, 11, 29, 19)  # 19:00 in Hanoi is 21:00 in Tokyo
    assert quiet_until(now, quiet, VN_TZ) is None
    assert quiet_until(now, quiet, ZoneInfo("Asia/Tokyo")) is not None


def test_audience_restricts_by_ids_and_types() -> None:
    everyone = Audience()
    assert everyone.includes("police:lang-son", "police")
    some = Audience(unit_ids=("police:lang-son",))
    assert some.includes("police:lang-son", "police")
    assert not some.includes("police:phu-tho", "police")
    police = Audience(unit_types=("police",))
    assert police.includes("police:phu-tho", "police")
    assert not police.includes("province:phu-tho", "province")


def test_recipients_put_email_first_and_follow_the_channels() -> None:
    unit = {"_id": "police:lang-son", "contacts": {"emails": ["a@x.example"],
                                                   "phones": ["+84990600101", "+84990600102"]}}
    assert recipients(unit, ["sms", "email"]) == [
        ("email", "a@x.example"), ("sms", "+84990600101"), ("sms", "+84990600102")]
    assert recipients(unit, ["sms"]) == [("sms", "+84990600101"), ("sms", "+84990600102")]


def test_the_ledger_key_and_message_id_are_deterministic() -> None:
    key = ledger_key("police:lang-son", 2040, "d-7", "email", "a@x.example")
    assert key == "2040|police:lang-son|d-7|email|a@x.example"
    assert parse_key(key)["recipient"] == "a@x.example"
    mid = message_id(key, "n.example")
    assert mid == message_id(key, "n.example") and mid.startswith("<2040.d-7.")
    assert mid != message_id(ledger_key("police:lang-son", 2040, "d-3", "email",
                                        "a@x.example"), "n.example")


@pytest.mark.parametrize("key", [b"", b"a", b"ab", b"abc", b"police:lang-son",
                                 "province:hà-nội".encode(), b"x" * 101])
def test_murmur2_is_kafkas(key: bytes) -> None:
    assert murmur2(key) == kafka_murmur2(key) & 0xFFFFFFFF


def test_partitions_spread_the_registry_over_six_partitions() -> None:
    from services.submissions.registry import load_registry

    parts = {partition_of(u.unit_id, 6) for u in load_registry().units(2040)}
    assert parts == set(range(6))


def test_escalation_goes_to_cluster_heads_supervisors_and_the_national_list() -> None:
    overdue = [
        {"_id": "police:lang-son", "type": "police", "supervisor": "ministry:public-security"},
        {"_id": "police:phu-tho", "type": "police", "supervisor": "ministry:public-security"},
        {"_id": "front:vietnam-women-union", "type": "front",
         "supervisor": "front:vietnam-fatherland-front"},
    ]
    clusters = {"mps-cluster-4": {"members": ["police:phu-tho", "police:lang-son"],
                                  "head": "police:phu-tho"},
                "mps-cluster-5": {"members": ["police:nghe-an"], "head": None}}
    targets = escalation_targets(overdue, clusters, Escalation())
    everyone = sorted(u["_id"] for u in overdue)
    assert targets["ministry:public-security"] == everyone
    assert targets["ministry:home-affairs"] == everyone
    # The head hears about its cluster's other overdue members, not about itself.
    assert targets["police:phu-tho"] == ["police:lang-son"]
    assert targets["front:vietnam-fatherland-front"] == ["front:vietnam-women-union"]
    only_national = escalation_targets(overdue, clusters, Escalation(
        national=("ministry:public-security",), cluster_heads=False, supervisors=False))
    assert list(only_national) == ["ministry:public-security"]


def test_a_campaign_survives_its_stored_form() -> None:
    c = campaign(audience={"unit_ids": ["police:lang-son"]}, channels=["sms"],
                 quiet_hours={"start": "22:00", "end": "06:30"}, paused=True)
    again = build_campaign(2040, campaign_spec(c))
    assert again == c


@pytest.mark.parametrize("overrides, message", [
    ({"stages": []}, "at least one stage"),
    ({"stages": [{"name": "a", "days": -1, "hour": 9}, {"name": "a", "days": -2, "hour": 9}]},
     "unique"),
    ({"stages": [{"name": "a", "days": -1, "hour": 24}]}, "hour"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"channels": ["fax"]}, "channels"),
    ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours"),
    ({"deadline": "2040-11-30T23:59:59"}, None),  # no offset: the campaign's zone
])
def test_campaign_overrides_are_checked(overrides: dict, message: str | None) -> None:
    if message is None:
        assert campaign(**overrides).deadline == vn(2040, 11, 30, 23, 59, 59)
        return
    with pytest.raises(CampaignInvalid, match=message):
        campaign(**overrides)


def test_quiet_hours_can_be_switched_off() -> None:
    assert campaign(quiet_hours=None).quiet_hours is None
    assert campaign().quiet_hours == QuietHours(time(21), time(7))


def test_the_clocks_year_gets_the_default_campaign_once() -> None:
    import asyncio
    from datetime import UTC

    from tests.unit.notifications_support import World

    w = World(datetime(2039, 12, 31, 18, tzinfo=UTC))  # the service's scheduler and stores
    docs = w.db["campaigns"].docs
    docs["2041"] = {"_id": "2041", "period": 2041, "source": "operator"}
    # 31 December 18:00 UTC is already 1 January in Hanoi: the new year's campaign.
    asyncio.run(w.scheduler._ensure_campaign(datetime(2039, 12, 31, 18, tzinfo=UTC)))
    assert set(docs) == {"2040", "2041"}
    assert docs["2040"]["source"] == "defaults"
    assert build_campaign(2040, docs["2040"]) == campaign(2040)
    asyncio.run(w.scheduler._ensure_campaign(vn(2041, 6, 1, 9)))
    assert docs["2041"] == {"_id": "2041", "period": 2041, "source": "operator"}  # kept
