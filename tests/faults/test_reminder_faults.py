"""Reminders when a provider or the database fails in the worst way (issue 16): an SMTP
server that hangs past every timeout, a database reply lost after a claim was applied,
an SMPP peer that goes silent. Each ends with every due reminder accounted for: `sent`,
`delivered`, `failed` with a reason, or `escalated` (sent once more by the other channel,
saying it may arrive twice, which the unit sees in its listing); none stays `unknown`,
and no peer received anything twice beyond that one announced fallback."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from devstack import parts
from tests.faults.mongo_proxy import LossyMongoProxy
from tests.integration.season_support import (
    SENT,
    Sinks,
    assert_sinks_match_ledger,
    expected_keys,
    keys,
    ledger,
    put_campaign,
    tick,
    units_of,
    when,
)
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
FINAL = ("sent", "delivered", "failed", "escalated")
TWICE_VI = "có thể trùng"  # the fallback SMS: "this may duplicate the e-mail sent"
NOTE_VI = "hai lần"  # the note: "you may receive this twice"


def reset_providers(stack: Stack, url: str | None = None) -> None:
    with httpx.Client(base_url=url or stack.cfg.service_url("notifications"), timeout=30,
                      headers={"Authorization": f"Bearer {stack.operator}",
                               "Audit-Reason": "fault test"}) as c:
        assert c.post("/v1/admin/providers/reset").status_code == 200


def settled(stack: Stack, period: int, want: Counter[tuple[str, ...]],
            timeout: float = 120) -> list[dict[str, Any]]:
    """Tick until every reminder of `want` is in the ledger and none is open or unknown."""
    def done() -> list[dict[str, Any]] | None:
        tick(stack)
        rows = ledger(stack, period)
        ok = set(keys(rows)) >= set(want) and all(r["status"] in FINAL for r in rows)
        return rows if ok else None

    return wait_for("every due reminder to be accounted for", done, timeout=timeout)


def assert_accounted(rows: list[dict[str, Any]]) -> None:
    """Every entry final; a failed one says why; an escalated one names the one fallback
    sent for it, which says it may arrive twice; nothing else was sent twice."""
    assert all(r["status"] in FINAL for r in rows), Counter(r["status"] for r in rows)
    by_key = {f"{r['period']}|{r['unit_id']}|{r['stage']}|{r['channel']}|{r['recipient']}": r
              for r in rows}
    for r in rows:
        if r["status"] == "failed":
            assert r["detail"], r
        if r["status"] == "escalated":
            assert r["resolution"] == "fallback" and r["fallback_key"] in by_key, r
    fallbacks = Counter(r["fallback_of"] for r in rows if r.get("fallback_of"))
    assert all(n == 1 for n in fallbacks.values()), fallbacks
    for r in rows:
        if r.get("fallback_of"):
            assert NOTE_VI in (r.get("note") or ""), r


def test_an_smtp_server_that_hangs_past_every_timeout(clock: Stack) -> None:
    """First it stores each message and answers after every timeout: the outcome is
    unknown, and the relay's log (the sink's, by Message-ID) says it arrived: `sent`.
    Then it holds each message past every timeout and loses it: not in the log, so the
    reminder goes once by SMS with the note, and the e-mail is `escalated`."""
    stack, period = clock, 2068
    registry = units_of(stack, period)
    audience = [u for u in sorted(registry) if u.startswith("police:")
                and registry[u]["phones"] and registry[u]["emails"]][2:4]
    assert len(audience) == 2
    put_campaign(stack, period, audience, channels=["email"])
    sinks = Sinks(stack)
    want: Counter[tuple[str, ...]] = Counter()
    for stage, mode in (("d-7", "delay-smtp"), ("d-3", "hang-smtp")):
        fault = stack.sinks_dir / mode
        fault.write_text("13")  # the SMTP timeout is 10 s
        try:
            stack.set_clock(when(period, stage))
            tick(stack)
            rows = [r for r in ledger(stack, period) if r["stage"] == stage]
            assert rows and {r["status"] for r in rows} == {"unknown"}, rows
            assert {r["unknown_reason"] for r in rows} == {"provider"}
        finally:
            fault.unlink(missing_ok=True)
            reset_providers(stack)
        for unit in audience:
            want += expected_keys(registry, unit, [stage], ("email",))
        rows = settled(stack, period, want)
        staged = [r for r in rows if r["stage"] == stage and r["channel"] == "email"]
        if mode == "delay-smtp":
            assert {(r["status"], r["resolution"]) for r in staged} == {("sent", "message-id")}
        else:
            assert {(r["status"], r["resolution"]) for r in staged} == {("escalated",
                                                                       "fallback")}
    assert_accounted(rows)
    # The first stage's e-mails arrived once each; the second's were lost by the relay
    # and went by SMS, one per unit, to the unit's first phone, with the note.
    emails = sinks.emails(period)
    assert sorted(m["headers"]["X-Emulation-Stage"] for m in emails) == ["d-7"] * len(
        [r for r in rows if r["stage"] == "d-7"])
    sms = sinks.smpp_messages(period) + sinks.http_sms(period)
    assert sorted(m["to"] for m in sms) == sorted(registry[u]["phones"][0] for u in audience)
    assert all(TWICE_VI in m["text"] for m in sms)
    fallback_rows = [r for r in rows if r["channel"] == "sms"]
    assert {r["status"] for r in fallback_rows} <= set(SENT)
    assert_sinks_match_ledger(sinks, rows, period)
    # The unit sees both in its own listing.
    unit = audience[0]
    with stack.client("notifications", stack.token(unit)) as c:
        own = c.get("/v1/notifications", params={"period": period}).json()
    assert any(r.get("fallback_of") and NOTE_VI in (r.get("note") or "") for r in own)
    assert any(r["status"] == "escalated" for r in own)


def test_an_smpp_peer_that_goes_silent(clock: Stack) -> None:
    """The SMSC answers binds and nothing else: each SMS's submit_sm gets no answer, the
    outcome is unknown, and the session is dropped. There is no log to ask for an SMS,
    so the reminder goes once by e-mail with the note first; the SMS is `escalated`."""
    stack, period = clock, 2069
    registry = units_of(stack, period)
    audience = sorted((u for u in registry if registry[u]["phones"] and registry[u]["emails"]),
                      key=lambda u: (len(registry[u]["phones"]), u))[:2]
    assert len(audience) == 2
    put_campaign(stack, period, audience, channels=["sms"])
    sinks = Sinks(stack)
    silent = stack.sinks_dir / "silent-smpp"
    silent.touch()
    try:
        stack.set_clock(when(period, "d-7"))
        tick(stack)
        rows = ledger(stack, period)
        assert rows and {r["status"] for r in rows} == {"unknown"}, rows
    finally:
        silent.unlink(missing_ok=True)
        reset_providers(stack)
    want: Counter[tuple[str, ...]] = Counter()
    for unit in audience:
        want += expected_keys(registry, unit, ["d-7"], ("sms",))
    rows = settled(stack, period, want)
    assert_accounted(rows)
    assert {r["status"] for r in rows if r["channel"] == "sms"} == {"escalated"}
    mails = sinks.emails(period)
    assert sorted(m["to"] for m in mails) == sorted(registry[u]["emails"][0] for u in audience)
    assert all(m["body"].startswith("Lưu ý:") and NOTE_VI in m["body"] for m in mails)
    ignored = [p for p in sinks.new("smpp") if p["command"] == "ignored"]
    assert ignored, "the silent SMSC received the submit_sm and did not answer"
    assert sinks.smpp_messages(period) == []  # no SMS was accepted, none sent again
    assert_sinks_match_ledger(sinks, rows, period)


def test_a_database_reply_lost_after_a_claim_was_applied(clock: Stack) -> None:
    """A notifications worker whose connection to FerretDB loses the replies to its
    first ledger inserts of the period (the claims are applied; the worker sees the
    connection drop): each such claim is recognised as its own and sent once; every
    reminder ends sent, nothing is sent twice."""
    stack, period = clock, 2070
    registry = units_of(stack, period)
    audience = [u for u in sorted(registry) if u.startswith("province:")
                and registry[u]["emails"]][:3]
    put_campaign(stack, period, audience, channels=["email"])
    sinks = Sinks(stack)
    marker = f"{period}|".encode()

    def a_claim(body: bytes) -> bool:
        return b"insert\x00" in body and b"ledger\x00" in body and marker in body

    port = stack.cfg.kafka_port - 92 + 15  # <TEST_PORT_BASE> + 15
    url = f"http://127.0.0.1:{port}"
    parts.proc(stack.cfg, "notifications-lossy").stop()  # a leftover of an interrupted run
    with LossyMongoProxy(stack.cfg.mongo_port, a_claim, times=2) as proxy:
        stack.proc("notifications").stop()
        worker = parts.start_instance(
            stack.cfg, "notifications", "lossy", port,
            env={"EMULATION_MONGO_URL": f"mongodb://127.0.0.1:{proxy.port}"})
        try:
            with httpx.Client(base_url=url, timeout=180, headers={
                    "Authorization": f"Bearer {stack.operator}",
                    "Audit-Reason": "fault test"}) as c:
                def owns_all() -> bool:
                    r = c.post("/v1/admin/tick")
                    return r.status_code == 200 and r.json()["partitions"] == list(range(6))

                wait_for("the worker to own every partition", owns_all, timeout=120)
                assert c.put("/v1/admin/clock", json={
                    "now": when(period, "d-7")}).status_code == 200
                want: Counter[tuple[str, ...]] = Counter()
                for unit in audience:
                    want += expected_keys(registry, unit, ["d-7"], ("email",))

                def done() -> list[dict[str, Any]] | None:
                    assert c.post("/v1/admin/tick").status_code == 200
                    rows = list(c.get("/v1/notifications", params={"period": period}).json())
                    return rows if keys(rows) == want and all(
                        r["status"] in FINAL for r in rows) else None

                rows = wait_for("every reminder of the stage to be settled", done, timeout=180)
        finally:
            worker.stop()
            stack.start("notifications")
        assert len(proxy.lost) == 2, "the replies to two applied claims were lost"
    assert {r["status"] for r in rows} <= set(SENT), Counter(r["status"] for r in rows)
    assert_accounted(rows)
    emails = sinks.emails(period)
    assert Counter(m["to"] for m in emails) == Counter(r["recipient"] for r in rows)
    assert_sinks_match_ledger(sinks, rows, period)
