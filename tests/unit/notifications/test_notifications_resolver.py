"""Unknown outcomes are resolved, never left so: an e-mail found by its Message-ID in the
SMTP relay's log is `sent`; otherwise the reminder goes once more by the other channel
with a note that it may arrive twice (the unit sees the note in its listing) and the
unknown entry is `escalated`; with no other way it ends `failed` with the reason. The
fallback is claimed like any send: run again (a restart, a second worker), nothing more
goes out."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import REGISTRY
from pymongo.errors import AutoReconnect

from services.notifications.api import notification_read
from services.notifications.campaigns import build_campaign, campaign_spec
from services.notifications.dispatch import Dispatcher
from services.notifications.domain import ledger_key, message_id
from services.notifications.providers import SendResult, UnknownOutcome
from tests.unit.notifications_support import PERIOD, World, local

UNIT = "province:a"
EMAIL, PHONE = "u0@example.vn", "+84990000000"
EMAIL_KEY = ledger_key(UNIT, PERIOD, "d-3", "email", EMAIL)
SMS_KEY = ledger_key(UNIT, PERIOD, "d-3", "sms", PHONE)


class Silent:
    """A provider that took the content and never answered."""

    def __init__(self, channel: str) -> None:
        self.channel, self.name = channel, f"silent-{channel}"
        self.sent: list[Any] = []

    async def send(self, message: Any) -> SendResult:
        self.sent.append(message)
        raise UnknownOutcome(self.name, "no answer after the content was sent")


def resolved(channel: str, resolution: str) -> float:
    return REGISTRY.get_sample_value("notification_unknown_resolved_total",
                                     {"channel": channel, "resolution": resolution}) or 0.0


async def world(channels: list[str], silent: str, when: Any = None) -> tuple[World, Silent]:
    """One unit (one address per channel), the campaign on `channels`, the provider of
    channel `silent` silent; the clock in stage d-3."""
    w = World(when or local(27, 10), units=[UNIT])
    await w.setup()
    spec = campaign_spec(build_campaign(PERIOD, w.defaults))
    await w.campaign_store.put({**spec, "channels": channels})
    quiet = Silent(silent)
    providers: dict[str, list[Any]] = {"email": [w.email], "sms": [w.sms]}
    providers[silent] = [quiet]
    w.sender.dispatcher = Dispatcher(providers)
    return w, quiet


def statuses(w: World) -> dict[str, str]:
    return {k: e["status"] for k, e in w.db["ledger"].docs.items()}


def test_an_email_found_by_its_message_id_in_the_relay_log_is_sent() -> None:
    async def go() -> None:
        w, smtp = await world(["email"], "email")
        await w.scheduler.run_pass("test")
        assert statuses(w) == {EMAIL_KEY: "unknown"}
        w.trace.found.add(message_id(EMAIL_KEY, w.sender.cfg.email_domain))
        before = resolved("email", "message-id")
        report = await w.scheduler.run_pass("test")
        assert report.resolved == [f"{EMAIL_KEY}: sent (message-id)"]
        entry = w.db["ledger"].docs[EMAIL_KEY]
        assert entry["status"] == "sent" and entry["resolution"] == "message-id"
        assert entry["sent_at"] is not None and "Message-ID" in entry["detail"]
        assert resolved("email", "message-id") == before + 1
        assert len(smtp.sent) == 1 and w.sms.sent == []  # nothing sent again
        assert w.db["unresolved"].docs == {}
        event = w.producer.events[-1]
        assert event.type == "vn.emulation.notification.sent"
        assert event.data["recipient"] == EMAIL
        await w.scheduler.run_pass("test")
        assert statuses(w) == {EMAIL_KEY: "sent"} and w.sms.sent == []

    asyncio.run(go())


def test_an_email_the_relay_does_not_know_goes_once_by_sms_saying_it_may_come_twice() -> None:
    async def go() -> None:
        w, smtp = await world(["email"], "email")
        await w.scheduler.run_pass("test")
        before = resolved("email", "fallback")
        report = await w.scheduler.run_pass("test")
        assert report.resolved == [f"{EMAIL_KEY}: escalated (fallback)"]
        assert statuses(w) == {EMAIL_KEY: "escalated", SMS_KEY: "sent"}
        entry = w.db["ledger"].docs[EMAIL_KEY]
        assert entry["fallback"] == f"sms:{PHONE}" and entry["fallback_key"] == SMS_KEY
        [sms] = w.sms.sent
        assert sms.to == PHONE and "có thể trùng" in sms.text
        fallback = w.db["ledger"].docs[SMS_KEY]
        assert fallback["fallback_of"] == EMAIL_KEY
        assert resolved("email", "fallback") == before + 1
        # The unit's listing shows both, and the note.
        shown = notification_read(fallback)
        assert shown.fallback_of == EMAIL_KEY and "hai lần" in (shown.note or "")
        assert notification_read(entry).status == "escalated"
        types = [e.type for e in w.producer.events]
        assert "vn.emulation.notification.escalated" in types
        # Later passes (a restart reads the same ledger) send nothing more.
        for _ in range(3):
            await w.scheduler.run_pass("test")
        assert len(w.sms.sent) == 1 and len(smtp.sent) == 1

    asyncio.run(go())


def test_an_sms_whose_outcome_is_unknown_goes_once_by_email_with_the_note() -> None:
    async def go() -> None:
        w, smpp = await world(["sms"], "sms")
        await w.scheduler.run_pass("test")
        assert statuses(w) == {SMS_KEY: "unknown"}
        await w.scheduler.run_pass("test")
        assert statuses(w) == {SMS_KEY: "escalated", EMAIL_KEY: "sent"}
        [mail] = w.email.sent
        assert mail.to == EMAIL and mail.body.startswith("Lưu ý:")
        assert "hai lần" in mail.body.split("\n\n")[0]
        assert w.trace.asked == []  # an SMS has no relay log to ask
        await w.scheduler.run_pass("test")
        assert len(w.email.sent) == 1 and len(smpp.sent) == 1

    asyncio.run(go())


def test_a_unit_that_has_the_stage_by_the_other_channel_gets_nothing_more() -> None:
    async def go() -> None:
        w, smtp = await world(["email", "sms"], "email")
        await w.scheduler.run_pass("test")  # e-mail unknown, SMS sent
        assert statuses(w) == {EMAIL_KEY: "unknown", SMS_KEY: "sent"}
        await w.scheduler.run_pass("test")
        assert statuses(w) == {EMAIL_KEY: "escalated", SMS_KEY: "sent"}
        assert "the stage reminder, sent" in w.db["ledger"].docs[EMAIL_KEY]["detail"]
        assert len(w.sms.sent) == 1 and len(smtp.sent) == 1

    asyncio.run(go())


def test_a_fallback_claimed_before_a_crash_is_not_sent_again() -> None:
    async def go() -> None:
        w, _ = await world(["email"], "email")
        await w.scheduler.run_pass("test")
        # As if an earlier worker had claimed and sent the fallback, then died before
        # marking the unknown entry: the resolution finds the fallback and sends nothing.
        claim = w.sender.entry(_job(w), "sent")
        assert await w.ledger.claim(claim)
        await w.scheduler.run_pass("test")
        assert statuses(w) == {EMAIL_KEY: "escalated", SMS_KEY: "sent"}
        assert w.sms.sent == []
        assert "its fallback, sent" in w.db["ledger"].docs[EMAIL_KEY]["detail"]

    asyncio.run(go())


def _job(w: World) -> Any:
    from services.notifications.reminder_sender import Job

    campaign = build_campaign(PERIOD, w.defaults)
    stage = campaign.stage("d-3")
    assert stage is not None
    return Job(key=SMS_KEY, campaign=campaign, stage=stage, stage_name="d-3",
               unit={"_id": UNIT, "contacts": {}}, channel="sms", recipient=PHONE,
               fallback_of=EMAIL_KEY)


def test_a_fallback_whose_outcome_is_unknown_too_ends_failed_without_a_third_send() -> None:
    async def go() -> None:
        w, smtp = await world(["email"], "email")
        silent_sms = Silent("sms")
        w.sender.dispatcher = Dispatcher({"email": [smtp], "sms": [silent_sms]})
        await w.scheduler.run_pass("test")
        await w.scheduler.run_pass("test")  # e-mail escalated; the SMS unknown too
        assert statuses(w) == {EMAIL_KEY: "escalated", SMS_KEY: "unknown"}
        await w.scheduler.run_pass("test")
        assert statuses(w) == {EMAIL_KEY: "escalated", SMS_KEY: "failed"}
        entry = w.db["ledger"].docs[SMS_KEY]
        assert entry["resolution"] == "no-fallback" and "fallback" in entry["detail"]
        assert len(smtp.sent) == 1 and len(silent_sms.sent) == 1
        assert w.db["unresolved"].docs == {}

    asyncio.run(go())


def test_without_another_address_or_after_a_report_it_fails_with_the_reason() -> None:
    async def go() -> None:
        w, _ = await world(["email"], "email")
        w.db["registry_units"].docs[UNIT]["contacts"]["phones"] = []
        await w.scheduler.run_pass("test")
        await w.scheduler.run_pass("test")
        entry = w.db["ledger"].docs[EMAIL_KEY]
        assert entry["status"] == "failed" and entry["resolution"] == "no-fallback"
        assert "no sms address" in entry["detail"]

        w3, _ = await world(["email"], "email")
        await w3.scheduler.run_pass("test")
        await w3.campaign_store.set_paused(PERIOD, True, local(27, 11))
        await w3.scheduler.run_pass("test")  # paused: waits
        assert w3.db["ledger"].docs[EMAIL_KEY]["status"] == "unknown"
        w3.db["campaigns"].docs[str(PERIOD)]["stages"] = "not stages"  # broken by hand
        await w3.scheduler.run_pass("test")
        assert w3.db["ledger"].docs[EMAIL_KEY]["status"] == "failed"
        assert w3.sms.sent == []

        w2, _ = await world(["email"], "email")
        await w2.scheduler.run_pass("test")
        await w2.service.on_submission(w2.submission(UNIT))
        await w2.scheduler.run_pass("test")
        entry = w2.db["ledger"].docs[EMAIL_KEY]
        assert entry["status"] == "failed" and entry["resolution"] == "reported"
        assert w2.sms.sent == []

    asyncio.run(go())


def test_a_relay_log_that_cannot_answer_escalates_and_an_sms_waits_for_the_window() -> None:
    async def go() -> None:
        w, _ = await world(["email"], "email", when=local(27, 22))  # quiet hours
        w.trace.down = True
        await w.scheduler.run_pass("test")
        assert statuses(w) == {EMAIL_KEY: "unknown"}
        await w.scheduler.run_pass("test")  # an SMS at 22:00 waits
        assert statuses(w) == {EMAIL_KEY: "unknown"} and w.sms.sent == []
        w.clock.when = local(28, 7, 30)
        await w.scheduler.run_pass("test")
        assert statuses(w)[EMAIL_KEY] == "escalated" and len(w.sms.sent) == 1

    asyncio.run(go())


def test_every_resolution_series_starts_at_zero() -> None:
    for channel in ("email", "sms"):
        for resolution in ("message-id", "fallback", "no-fallback", "reported", "stage-past"):
            assert REGISTRY.get_sample_value("notification_unknown_resolved_total", {
                "channel": channel, "resolution": resolution}) is not None


def test_the_fallback_sms_fits_two_segments_for_every_unit() -> None:
    from services.notifications import sms
    from services.notifications.templates import SMS_MAX_SEGMENTS, Templates, reminder_values
    from tests.unit.notifications_support import CAMPAIGN, units

    templates = Templates()
    stage = CAMPAIGN.stages[0]
    worst = 0
    for unit in units():
        lang = "en" if unit["contacts"]["language"] == "en" else "vi"
        values = reminder_values(unit=unit, campaign=CAMPAIGN, stage=stage,
                                 now=local(20, 9), lang=lang)
        text = templates.fallback(lang=lang, stage=stage, channel="sms", values=values).body
        assert str(CAMPAIGN.period) in text
        worst = max(worst, sms.segments(text))
    assert worst <= SMS_MAX_SEGMENTS



class LosesReplies:
    """A ledger collection whose next inserts are applied and their replies lost: the
    driver raises (the connection dropped), or retries and meets its own duplicate."""

    def __init__(self, coll: Any, how: str, times: int = 1) -> None:
        self.coll, self.how, self.times = coll, how, times

    def __getattr__(self, name: str) -> Any:
        return getattr(self.coll, name)

    async def insert_one(self, doc: dict[str, Any]) -> Any:
        result = await self.coll.insert_one(doc)
        if self.times > 0:
            self.times -= 1
            if self.how == "raise":
                raise AutoReconnect("connection closed")
            await self.coll.insert_one(doc)  # the retry: a duplicate key
        return result


def test_a_claim_applied_whose_reply_was_lost_is_ours_and_sent_once() -> None:
    async def go() -> None:
        for how in ("raise", "retry"):
            w, _ = await world(["email"], "sms")
            w.ledger.ledger = LosesReplies(w.ledger.ledger, how, times=1)
            report = await w.scheduler.run_pass("test")
            assert report.campaigns[0].outcomes["sent"] == 1, (how, report)
            assert statuses(w) == {EMAIL_KEY: "sent"} and len(w.email.sent) == 1, how
            assert w.db["open_claims"].docs == {}
            await w.scheduler.run_pass("test")
            assert len(w.email.sent) == 1, how

    asyncio.run(go())


def test_a_claim_that_was_not_applied_is_not_taken_for_ours() -> None:
    async def go() -> None:
        w, _ = await world(["email"], "sms")
        other = w.sender.entry(_job(w), "sending")
        assert await w.ledger.claim(other)
        mine = {**other, "claim_token": "another", "owner": "someone-else"}
        assert not await w.ledger.claim(mine)

    asyncio.run(go())
