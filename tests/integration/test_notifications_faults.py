"""Reminders when things break: the service killed (kill -9) in the middle of a stage
and its events redelivered sends no duplicate (a claim whose outcome is unknown is
reported, then resolved: found in the SMTP log, or sent once by SMS with a note); a
failing SMS provider falls back to the next one, and to e-mail
when every SMS provider fails."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.integration.season_support import (
    SENT,
    Sinks,
    assert_sinks_match_ledger,
    at,
    expected_keys,
    keys,
    ledger,
    put_campaign,
    reset_providers,
    submit,
    tick,
    units_of,
    when,
)
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration


def redeliver(stack: Stack, topic: str, subjects: set[str]) -> int:
    """Produce the topic's records about `subjects` again, as a replay would."""
    import json

    records = stack.read_topic(topic, lambda e: e.get("subject") in subjects,
                               count=10_000, timeout=5)
    producer = stack.producer()
    try:
        for record in records:
            headers = list(record.pop("_headers").items())
            producer.send(topic, json.dumps(record, ensure_ascii=False).encode(),
                          key=record["subject"].encode(), headers=headers)
        producer.flush()
    finally:
        producer.close()
    return len(records)


def test_a_service_killed_mid_stage_sends_no_duplicate(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack, period = clock, 2046
    registry = units_of(stack, period)
    audience = ["police:lang-son", "police:cao-bang", "police:son-la", "police:lai-chau",
                "police:dien-bien", "police:tuyen-quang"]
    reporter = "police:thai-nguyen"  # reported before the stage: never reminded
    put_campaign(stack, period, [*audience, reporter], channels=["email"])
    sinks = Sinks(stack)
    stack.set_clock(f"{period}-11-20T10:00:00+07:00")
    submit(stack, example_request, reporter, period)

    # A slow SMTP server: each message is stored, then answered 2 s later.
    delay = stack.sinks_dir / "delay-smtp"
    delay.write_text("2")
    stack.set_clock(when(period, "d-7"))
    tick_error: list[BaseException] = []

    def run_tick() -> None:
        try:
            with stack.as_operator("notifications") as c:
                c.post("/v1/admin/tick", timeout=120)
        except httpx.HTTPError as exc:  # the service dies under it
            tick_error.append(exc)

    worker = threading.Thread(target=run_tick)
    try:
        worker.start()
        wait_for("the first reminders of the stage", lambda: any(
            r["status"] == "sent" for r in ledger(stack, period)), timeout=60)
        stack.proc("notifications").kill9()
        worker.join(30)
        assert tick_error, "the tick was still running when the service was killed"
    finally:
        delay.unlink(missing_ok=True)
    in_flight = [r for r in ledger_direct(stack, period) if r["status"] == "sending"]
    assert in_flight, "some reminders were claimed but not marked when the service died"

    stack.start("notifications")
    # A restarted process runs on real time until set: the environment's clock is d-7
    # (the resolver needs the stage current to send a reminder again by SMS).
    stack.set_clock(when(period, "d-7"), ("notifications",))
    assert redeliver(stack, "emulation.units.v1", {*audience, reporter}) >= len(audience)
    assert redeliver(stack, "emulation.submissions.v1", {reporter}) >= 1

    want: Counter[tuple[str, ...]] = Counter()
    for unit in audience:
        want += expected_keys(registry, unit, ["d-7"], ("email",))

    def settled() -> list[dict[str, Any]] | None:
        # Until the dead member leaves the consumer group, the new worker may own only
        # some partitions; the dead worker's claims become `unknown` once abandoned, and
        # are then resolved (the relay's log by Message-ID, or the other channel).
        owns_all = tick(stack)["partitions"] == list(range(6))
        rows = ledger(stack, period)
        done = owns_all and set(keys(rows)) >= set(want) and all(
            r["status"] not in ("sending", "unknown") for r in rows)
        return rows if done else None

    # The dead worker's claims become `unknown` only after the claim timeout, derived from
    # the providers' timeouts (110 s by default; this wait was 240 s with a fixed 25 s).
    wait_for("every reminder of the stage to be settled", settled, timeout=360)
    tick(stack)
    rows = ledger(stack, period)
    emails = [r for r in rows if r["channel"] == "email"]
    assert keys(emails) == want  # every reminder once; the reporter got nothing
    statuses = Counter(r["status"] for r in emails)
    assert set(statuses) <= {"sent", "escalated", "failed"}, statuses
    # Exactly those in flight were unknown, and each was resolved: `sent` when the SMTP
    # sink's log has its Message-ID (it was stored before the kill), otherwise sent once
    # more by SMS, saying it may arrive twice, or failed with the reason when the unit
    # has no phone.
    resolved = {r["recipient"]: r for r in emails if r.get("resolution")}
    assert set(resolved) == {r["recipient"] for r in in_flight}
    assert {r["recipient"] for r in emails if r["status"] != "sent"} <= set(resolved)
    stored = {m["message_id"] for m in sinks.emails(period)}
    for r in resolved.values():
        if r["message_id"] in stored:
            want_outcome = ("sent", "message-id")
        elif registry[r["unit_id"]]["phones"]:
            want_outcome = ("escalated", "fallback")
        else:
            want_outcome = ("failed", "no-fallback")
            assert "no sms address" in r["detail"], r
        assert (r["status"], r["resolution"]) == want_outcome, r
    fallbacks = [r for r in rows if r["channel"] == "sms"]
    assert all(r.get("fallback_of") and r["status"] in SENT for r in fallbacks)
    assert len(fallbacks) == len({r["unit_id"] for r in resolved.values()
                                  if r["status"] == "escalated"})
    assert_sinks_match_ledger(sinks, rows, period)  # each message at most once
    unknown = set(resolved)
    reported = stack.read_topic(
        "emulation.notifications.v1", lambda e: e.get("data", {}).get("period") == period
        and e["data"]["status"] == "unknown", count=len(unknown), timeout=15)
    assert {e["data"]["recipient"] for e in reported} == unknown


def ledger_direct(stack: Stack, period: int) -> list[dict[str, Any]]:
    """The ledger straight from the database (the service is down)."""
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(stack.cfg.mongo_url)
    try:
        return list(client["emulation_notifications"]["ledger"].find({"period": period}))
    finally:
        client.close()


def test_a_transient_failure_is_retried_in_a_later_round(clock: Stack) -> None:
    # One address, so two failed tries leave the SMTP circuit closed.
    stack, period, unit = clock, 2048, "organization:vietnam-news-agency"
    registry = units_of(stack, period)
    put_campaign(stack, period, [unit], channels=["email"])
    sinks = Sinks(stack)
    fail = stack.sinks_dir / "fail-smtp"
    try:
        fail.touch()  # 451: the server is there but takes nothing now
        at(stack, f"{period}-11-23T09:05:00+07:00")
        rows = ledger(stack, period)
        assert keys(rows) == expected_keys(registry, unit, ["d-7"], ("email",))
        assert {r["status"] for r in rows} == {"retrying"}
        assert all(r["not_before"] and r["attempts"] == 2 for r in rows)
    finally:
        fail.unlink(missing_ok=True)
        reset_providers(stack)
    assert sinks.emails(period) == []
    at(stack, f"{period}-11-23T09:04:59+07:00")  # the retry is not due yet
    assert {r["status"] for r in ledger(stack, period)} == {"retrying"}
    at(stack, f"{period}-11-23T09:10:00+07:00")  # backoff over: round 2
    rows = ledger(stack, period)
    assert {r["status"] for r in rows} == {"sent"}
    assert all(r["attempts"] == 3 for r in rows)
    assert_sinks_match_ledger(sinks, rows, period)


def test_a_failing_sms_provider_falls_back_to_the_next_then_to_email(clock: Stack) -> None:
    stack, period, unit = clock, 2047, "police:quang-ninh"
    registry = units_of(stack, period)
    phones, first_email = registry[unit]["phones"], registry[unit]["emails"][0]
    put_campaign(stack, period, [unit], channels=["sms"])
    sinks = Sinks(stack)
    fail_smpp, fail_http = stack.sinks_dir / "fail-smpp", stack.sinks_dir / "fail-http-sms"
    try:
        fail_smpp.touch()
        at(stack, when(period, "d-7"))
        rows = ledger(stack, period)
        assert keys(rows) == expected_keys(registry, unit, ["d-7"], ("sms",))
        assert {(r["status"], r["provider"]) for r in rows} == {("sent", "http-sms")}
        assert sorted(m["to"] for m in sinks.http_sms(period)) == sorted(phones)
        refused = [p for p in sinks.new("smpp") if p["command"] == "submit_sm"
                   and p["command_status"] == 0x08]
        assert refused, "SMPP was tried first and answered ESME_RSYSERR"

        fail_http.touch()
        at(stack, when(period, "d-3"))
        rows = [r for r in ledger(stack, period) if r["stage"] == "d-3"]
        sms_rows = [r for r in rows if r["channel"] == "sms"]
        assert {r["status"] for r in sms_rows} == {"failed"}
        assert {r["fallback"] for r in sms_rows} == {f"email:{first_email}"}
        [email] = [r for r in rows if r["channel"] == "email"]
        assert email["recipient"] == first_email and email["status"] in SENT
    finally:
        fail_smpp.unlink(missing_ok=True)
        fail_http.unlink(missing_ok=True)
        reset_providers(stack)
    [mail] = [m for m in sinks.emails(period) if m["headers"]["X-Emulation-Stage"] == "d-3"]
    assert mail["to"] == first_email and "còn 3 ngày" in mail["subject"]
    assert_sinks_match_ledger(sinks, ledger(stack, period), period)
