"""Reminders on the real stack, the clock driven through a season with the clock
fixture and POST /v1/admin/tick: each stage once per channel and recipient, nothing
after a unit reports, catch-up after downtime, quiet hours, pause and resume, escalation
digests, and the SMTP and SMPP peers receiving exactly what the ledger says was sent.
Campaigns are restricted to a few units (an operator feature) to keep the tests quick.
The helpers here are shared with test_notifications_faults.py."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from services.common import schemas
from services.notifications.domain import partition_of
from tests.integration.season_support import (
    SENT,
    STAGE_TIMES,
    Sinks,
    assert_sinks_match_ledger,
    at,
    expected_keys,
    keys,
    ledger,
    put_campaign,
    submit,
    tick,
    units_of,
    when,
)
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration


def elect_head(stack: Stack, cluster: str, period: int, head: str, deputy: str) -> None:
    """The cluster's conference of the year before elects `head` for `period` (a head is
    never inherited from an earlier year: issue 14); the scoring service's replica shows
    it, and so will the notifications' (the same registry topic)."""
    with stack.as_operator("submissions") as c:
        r = c.put(f"/v1/clusters/{cluster}/conferences/{period - 1}", json={
            "date": f"{period - 1}-11-27", "place": "Hạ Long", "proposals": [],
            "head": head, "deputy": deputy}, headers={"Audit-Reason": "test season"})
        assert r.status_code == 200, r.text
    with stack.as_operator("scoring") as c:
        wait_for("the recorded head", lambda: c.get(
            f"/v1/clusters/{cluster}/leadership", params={"period": period}
        ).json().get("source") == "conference")


# -- the tests -------------------------------------------------------------------------------

STAGES = ["d-30", "d-14", "d-7", "d-3", "d-1", "d-0", "overdue-1", "overdue-3"]


# vi-an-ninh's, from its default deadline (26 November: the day before the conferences).
POLICE_STAGE_TIMES = {"d-30": "10-27T09:05", "d-14": "11-12T09:05", "d-7": "11-19T09:05",
                      "d-3": "11-23T09:05", "d-1": "11-25T09:05", "d-0": "11-26T08:05",
                      "overdue-1": "11-27T09:05", "overdue-3": "11-29T09:05"}


def season(period: int) -> list[tuple[str, dict[str, str]]]:
    """Both movements' stage times in order: (time, {movement: the stage due then})."""
    plan: dict[str, dict[str, str]] = {}
    for movement, times in (("toan-dan", STAGE_TIMES), ("vi-an-ninh", POLICE_STAGE_TIMES)):
        for stage in STAGES:
            plan.setdefault(when(period, stage, times), {})[movement] = stage
    return sorted(plan.items())


def runs_of(report: dict[str, Any], period: int) -> dict[str, dict[str, Any]]:
    """The pass's run of the period's campaign for each movement."""
    return {c["movement"]: c for c in report["campaigns"] if c["period"] == period}


def test_a_season_sends_each_stage_once_and_nothing_after_a_report(
        clock: Stack, example_request: dict[str, Any]) -> None:
    """Each movement's units are reminded from their own deadline (issue 14): the police
    unit from 26 November, the others from 30 November, in one campaign."""
    stack, period = clock, 2040
    reporter = "province:lang-son"  # reports between d-7 and d-3
    police = "police:lang-son"
    audience = [police, "ministry:foreign-affairs", reporter]
    registry = units_of(stack, period)
    elect_head(stack, "mps-cluster-4", period, "police:phu-tho", "police:bac-ninh")
    put_campaign(stack, period, audience, align_police=False)
    with stack.as_operator("notifications") as c:
        runs = {r["movement"]: r for r in c.get(f"/v1/campaigns/{period}").json()["movements"]}
    assert runs["vi-an-ninh"]["deadline"].startswith(f"{period}-11-26T23:59:59")
    assert runs["toan-dan"]["deadline"].startswith(f"{period}-11-30T23:59:59")
    police_d7 = next(s for s in runs["vi-an-ninh"]["stages"] if s["name"] == "d-7")
    assert police_d7["due_at"].startswith(f"{period}-11-19T09:00")
    sinks = Sinks(stack)
    for moment, due in season(period):
        runs = runs_of(at(stack, moment), period)
        for movement, stage in due.items():
            assert runs[movement]["stage"] == stage, (moment, movement, runs)
        if due.get("toan-dan") == "d-7":
            stack.set_clock(f"{period}-11-24T10:00:00+07:00")
            submit(stack, example_request, reporter, period)
            assert at(stack, f"{period}-11-24T10:05:00+07:00")["campaigns"]  # nothing due
    # Passes again at the same moment, and in between stages, change nothing.
    before = ledger(stack, period)
    at(stack, f"{period}-12-03T10:00:00+07:00")
    tick(stack)
    rows = ledger(stack, period)
    assert keys(rows) == keys(before)

    reminders = [r for r in rows if r["kind"] == "reminder"]
    want = (expected_keys(registry, police, STAGES)
            + expected_keys(registry, "ministry:foreign-affairs", STAGES)
            + expected_keys(registry, reporter, ["d-30", "d-14", "d-7"]))
    assert keys(reminders) == want  # each stage once per channel and recipient, no more
    assert all(r["status"] in SENT for r in reminders), Counter(r["status"] for r in reminders)
    assert all(r["sent_at"] for r in reminders)

    # One digest per movement: a body hearing about both gets two, each its own units.
    digests = [r for r in rows if r["kind"] == "digest"]
    assert {r["stage"] for r in digests} == {
        "overdue-1-digest", "overdue-3-digest",
        "overdue-1-digest@vi-an-ninh", "overdue-3-digest@vi-an-ninh"}
    by_recipient = {(r["unit_id"], r["stage"]): r["units"] for r in digests}
    for body in ("ministry:public-security", "ministry:home-affairs"):
        # the reporter is not listed
        assert by_recipient[(body, "overdue-1-digest")] == ["ministry:foreign-affairs"]
        assert by_recipient[(body, "overdue-1-digest@vi-an-ninh")] == [police]
    assert by_recipient[("police:phu-tho", "overdue-3-digest@vi-an-ninh")] == [police]
    assert keys(d for d in digests if d["unit_id"] == "police:phu-tho") == Counter(
        ("police:phu-tho", s, "email", a)
        for s in ("overdue-1-digest@vi-an-ninh", "overdue-3-digest@vi-an-ninh")
        for a in registry["police:phu-tho"]["emails"])

    assert_sinks_match_ledger(sinks, rows, period)
    # The SMPP peer sends deliver_sm receipts: those SMS end up delivered.
    assert any(r["provider"] == "smpp" for r in rows)
    wait_for("the SMPP delivery receipts", lambda: all(
        r["status"] == "delivered" and r["delivered_at"] for r in ledger(stack, period)
        if r["provider"] == "smpp"), timeout=30)
    emails = {m["message_id"]: m for m in sinks.emails(period)}
    en = [m for m in emails.values() if m["headers"]["X-Emulation-Unit"]
          == "ministry:foreign-affairs"]
    assert en and all(m["subject"].startswith("[Emulation 2040]") for m in en)
    vi = next(m for m in emails.values() if m["headers"]["X-Emulation-Unit"]
              == "police:lang-son" and m["headers"]["X-Emulation-Stage"] == "d-7")
    assert "còn 7 ngày" in vi["subject"] and "Công an tỉnh Lạng Sơn" in vi["body"]
    assert "Vì an ninh Tổ quốc" in vi["body"] and f"26/11/{period}" in vi["body"]
    to_moha = {m["headers"]["X-Emulation-Stage"]: m["body"] for m in emails.values()
               if m["headers"]["X-Emulation-Unit"] == "ministry:home-affairs"}
    assert "(ministry:foreign-affairs)" in to_moha["overdue-1-digest"]
    assert "(police:lang-son)" not in to_moha["overdue-1-digest"]
    assert "(police:lang-son)" in to_moha["overdue-1-digest@vi-an-ninh"]
    smpp = sinks.smpp_messages(period)
    vi_sms = [m for m in smpp if m["to"] in registry["police:lang-son"]["phones"]]
    assert vi_sms and all(p["data_coding"] == 8 for m in vi_sms for p in m["pdus"])
    assert any(len(m["pdus"]) == 2 and all(p["esm_class"] == 0x40 for p in m["pdus"])
               for m in vi_sms)
    en_sms = [m for m in smpp if m["to"] in registry["ministry:foreign-affairs"]["phones"]]
    assert all(p["data_coding"] == 0 for m in en_sms for p in m["pdus"])

    sent = [r for r in rows if r["status"] in SENT]
    events = stack.read_topic(
        "emulation.notifications.v1", lambda e: e.get("data", {}).get("period") == period
        and e["data"]["status"] == "sent", count=len(sent) + 1, timeout=15)
    assert len({e["id"] for e in events}) == len(sent)
    for event in events[:20]:
        event.pop("_headers")
        assert schemas.errors("notification.v2", event) == []


def test_catch_up_after_downtime_sends_only_the_latest_stage(clock: Stack) -> None:
    stack, period, unit = clock, 2041, "police:cao-bang"
    put_campaign(stack, period, [unit])
    # The service was "down" from before d-30 until the deadline day's afternoon.
    report = at(stack, f"{period}-11-30T15:00:00+07:00")
    assert next(c for c in report["campaigns"] if c["period"] == period)["stage"] == "d-0"
    rows = ledger(stack, period)
    assert {r["stage"] for r in rows} == {"d-0"}
    # Back again long after the last stage: everything is stale, nothing goes out.
    report = at(stack, f"{period}-12-10T09:00:00+07:00")
    assert next(c for c in report["campaigns"] if c["period"] == period)["stage"] is None
    assert keys(ledger(stack, period)) == keys(rows)


def test_sms_in_quiet_hours_waits_and_a_report_cancels_what_waits(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack, period = clock, 2042
    waiting, reporter = "police:lang-son", "province:lang-son"
    registry = units_of(stack, period)
    put_campaign(stack, period, [waiting, reporter])
    sinks = Sinks(stack)
    at(stack, f"{period}-11-29T22:30:00+07:00")  # d-1 is due, but it is night
    rows = ledger(stack, period)
    sms_rows = [r for r in rows if r["channel"] == "sms"]
    assert keys(sms_rows) == (expected_keys(registry, waiting, ["d-1"], ("sms",))
                              + expected_keys(registry, reporter, ["d-1"], ("sms",)))
    assert {r["status"] for r in sms_rows} == {"deferred"}
    assert {r["not_before"] for r in sms_rows} == {f"{period}-11-30T00:00:00Z"}
    assert all(r["status"] in SENT for r in rows if r["channel"] == "email")
    assert sinks.smpp_messages(period) == [] and sinks.http_sms(period) == []

    submit(stack, example_request, reporter, period)
    assert {r["status"] for r in ledger(stack, period, reporter)
            if r["channel"] == "sms"} == {"cancelled"}

    at(stack, f"{period}-11-30T07:05:00+07:00")  # the window opens; d-0 is not due yet
    rows = ledger(stack, period)
    assert {r["status"] for r in rows if r["unit_id"] == waiting} <= set(SENT)
    assert {r["status"] for r in rows if r["unit_id"] == reporter
            and r["channel"] == "sms"} == {"cancelled"}
    assert sorted(m["to"] for m in sinks.smpp_messages(period) + sinks.http_sms(period)
                  ) == sorted(registry[waiting]["phones"])
    assert_sinks_match_ledger(sinks, rows, period)


def test_an_operator_pauses_and_resumes_a_campaign(clock: Stack) -> None:
    stack, period, unit = clock, 2043, "police:son-la"
    put_campaign(stack, period, [unit], channels=["email"])
    with stack.as_operator("notifications") as c:
        assert c.post(f"/v1/campaigns/{period}/pause").json()["paused"] is True
    report = at(stack, when(period, "d-7"))
    assert next(c for c in report["campaigns"] if c["period"] == period)["paused"] is True
    assert ledger(stack, period) == []
    with stack.as_operator("notifications") as c:
        assert c.post(f"/v1/campaigns/{period}/resume").json()["paused"] is False
    tick(stack)
    rows = ledger(stack, period)
    assert {(r["stage"], r["status"]) for r in rows} == {("d-7", "sent")}

    # Who may read what.
    with stack.client("notifications", stack.token(unit)) as c:
        own = c.get("/v1/notifications", params={"period": period})
        assert own.status_code == 200 and keys(own.json()) == keys(rows)
        assert c.get("/v1/notifications", params={"unit_id": "police:lang-son"}
                     ).status_code == 403
        assert c.post("/v1/admin/tick").status_code == 403
        assert c.post(f"/v1/campaigns/{period}/pause").status_code == 403
    with stack.as_operator("notifications") as c:
        missing = c.get("/v1/notifications")
        assert missing.status_code == 422
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert c.get("/v1/notifications", params={"period": 1999}).status_code == 422
        assert c.get("/v1/campaigns/2099").status_code == 404
        bad = c.put(f"/v1/campaigns/{period}", json={"stages": [
            {"name": "a", "days": -1, "hour": 9}, {"name": "a", "days": -2, "hour": 9}]})
        assert bad.status_code == 422 and "unique" in bad.json()["detail"]
        assert c.get(f"/v1/deadlines/{period}").json()["deadline"].startswith(
            f"{period}-11-30T23:59:59")


def test_each_unit_is_scheduled_by_the_owner_of_its_registry_partition(stack: Stack) -> None:
    from kafka import KafkaConsumer, TopicPartition

    assert tick(stack)["partitions"] == list(range(6))  # the only worker owns them all
    consumer = KafkaConsumer(**stack.cfg.kafka_client(),
                             enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        tps = [TopicPartition("emulation.units.v1", p) for p in range(6)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        seen = {}
        for record in consumer:
            key = record.key.decode()
            if ":" in key and not key.startswith("mps-cluster"):
                seen[key] = record.partition
    finally:
        consumer.close()
    assert len(seen) >= 100
    assert all(partition_of(unit, 6) == p for unit, p in seen.items())
