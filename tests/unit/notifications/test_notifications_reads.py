"""The notifications service's hot paths read documents by `_id`: the pass (registry,
who reported, open claims), a submission record (the waits it cancels) and the gauges.
On FerretDB any other filter reads the whole collection. Checked on the in-memory
database, whose call log says which filters were used."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from services.common.envelope import Event
from services.common.registry_replica import UNIT_EVENT
from services.notifications.campaigns import build_campaign, campaign_spec
from services.notifications.domain import ledger_key
from services.notifications.store import (
    OPEN_CLAIMS_BACKFILL,
    PERIOD_STATUS_BACKFILL,
    LedgerStore,
    StatusStore,
)
from tests.fakes.mongo import FakeDatabase
from tests.unit.notifications_support import ALLOWED_SCANS, PERIOD, World, local, run, unit_doc


# -- who reported: one document per period ---------------------------------------------------
def test_who_reported_is_one_document_per_period_read_by_id() -> None:
    async def go() -> None:
        w = World(local(20, 10))
        await w.setup()
        await w.service.on_submission(w.submission("province:a", 1, on_time=True))
        await w.service.on_submission(w.submission("province:a", 2, on_time=False))
        await w.service.on_submission(w.submission("province:b", 1, on_time=False))
        await w.status.prepare()  # the one-time backfill (nothing to backfill here)
        w.db.reset()
        assert await w.status.submitted(PERIOD) == {"province:a": True, "province:b": False}
        assert await w.status.submitted(PERIOD + 1) == {}
        assert w.db.scans() == []

    run(go())


def test_a_unit_id_that_is_not_a_field_name_survives() -> None:
    async def go() -> None:
        w = World(local(20, 10))
        await w.status.note("odd.unit$1%", PERIOD, True)
        assert await w.status.submitted(PERIOD) == {"odd.unit$1%": True}

    run(go())


def test_reports_recorded_before_the_period_documents_are_backfilled_once() -> None:
    async def go() -> None:
        w = World(local(20, 10))
        for uid, on_time in (("province:a", True), ("province:b", False)):
            w.db["unit_status"].docs[f"{uid}|{PERIOD}"] = {
                "_id": f"{uid}|{PERIOD}", "unit_id": uid, "period": PERIOD, "on_time": on_time}
        w.db["unit_status"].docs["province:a|2039"] = {
            "_id": "province:a|2039", "unit_id": "province:a", "period": 2039, "on_time": True}
        assert await w.status.submitted(PERIOD) == {"province:a": True, "province:b": False}
        assert await w.status.submitted(2039) == {"province:a": True}
        assert w.db["markers"].docs[PERIOD_STATUS_BACKFILL]["documents"] == 3
        # another process: the marker, by _id, and no scan of unit_status
        w.db.reset()
        other = StatusStore(w.db)
        assert await other.submitted(PERIOD) == {"province:a": True, "province:b": False}
        assert w.db.scans() == []

    run(go())


def test_gauges_read_no_collection_but_the_campaigns() -> None:
    async def go() -> None:
        w = World(local(20, 10))
        await w.setup()
        await w.campaign_store.create(campaign_spec(build_campaign(PERIOD - 1, w.defaults)))
        await w.service.on_submission(w.submission("province:a"))
        await w.service.publish_gauges()  # the first reads fill the caches
        w.db.reset()
        await w.service.publish_gauges()
        assert w.scans() == {"campaigns"}
        status = await w.service.status(PERIOD)
        assert (status.expected, status.submitted) == (3, 1)

    run(go())


# -- a submission record cancels the unit's waits by their keys ------------------------------
def test_a_report_cancels_the_units_waits_read_by_id() -> None:
    async def go() -> None:
        w = World(local(27, 22))  # d-3 is current; SMS wait for the morning
        await w.setup()
        report = await w.scheduler.run_pass("test")
        assert report.campaigns[0].outcomes["deferred"] == 3
        waiting = ledger_key("province:a", PERIOD, "d-3", "sms", "+84990000000")
        assert waiting in w.db["deferrals"].docs
        w.db.reset()
        await w.service.on_submission(w.submission("province:a", on_time=False))
        assert w.db.scans() == []
        assert waiting not in w.db["deferrals"].docs
        assert w.db["ledger"].docs[waiting]["status"] == "cancelled"
        assert len(w.db["deferrals"].docs) == 2  # the other units still wait
        # a report with nothing waiting reads the same few documents, by _id
        w.db.reset()
        await w.service.on_submission(w.submission("province:a", 2, on_time=False))
        assert w.db.scans() == []

    run(go())


# -- the pass ------------------------------------------------------------------------------
def test_a_pass_reads_the_ledger_registry_and_reports_only_by_id() -> None:
    async def go() -> None:
        w = World(local(27, 10))
        await w.setup()
        await w.service.on_submission(w.submission("province:c"))
        first = await w.scheduler.run_pass("test")
        assert first.campaigns[0].outcomes["sent"] == 4  # a and b, e-mail and SMS
        assert w.db["open_claims"].docs == {}  # every claim settled
        w.db.reset()
        for _ in range(3):
            await w.scheduler.run_pass("test")
        assert w.scans() <= ALLOWED_SCANS
        # a rebalance makes the next pass look for abandoned claims: open_claims only
        w.ownership.assign([type("TP", (), {"topic": "emulation.units.v1", "partition": p})()
                            for p in range(6)])
        w.db.reset()
        await w.scheduler.run_pass("test")
        assert w.scans() <= ALLOWED_SCANS and "open_claims" in w.scans()
        # a unit added to the registry is seen by the next pass
        await w.replica.apply(Event(id="e9", type=UNIT_EVENT, source="t", subject="province:d",
                                    time="", dataschema="", data=unit_doc("province:d", 9)))
        again = await w.scheduler.run_pass("test")
        assert again.campaigns[0].outcomes["sent"] == 2

    run(go())


def test_a_report_the_period_document_missed_is_not_reminded_and_is_repaired() -> None:
    async def go() -> None:
        w = World(local(27, 10))
        await w.setup()
        await w.service.on_submission(w.submission("province:a"))
        await w.status.prepare()
        # as if a concurrent update on FerretDB had lost it
        del w.db["period_status"].docs[str(PERIOD)]["units"]["province:a"]
        report = await w.scheduler.run_pass("test")
        assert report.campaigns[0].outcomes["cancelled"] == 2
        assert [m.to for m in w.email.sent] == ["u1@example.vn", "u2@example.vn"]
        assert (await w.status.submitted(PERIOD))["province:a"] is True

    run(go())


# -- open claims ---------------------------------------------------------------------------
def test_open_claims_follow_the_ledger_entries_in_sending() -> None:
    async def go() -> None:
        w = World(local(27, 10))
        key = ledger_key("province:a", PERIOD, "d-3", "email", "u0@example.vn")
        now = datetime.now(UTC)
        entry = {"_id": key, "unit_id": "province:a", "period": PERIOD, "stage": "d-3",
                 "channel": "email", "recipient": "u0@example.vn", "status": "sending",
                 "owner": "me", "touched_at": now}
        assert await w.ledger.claim(entry)
        assert w.db["open_claims"].docs[key]["since"] == now
        assert not await w.ledger.claim(entry)  # taken: the claim stays open
        assert key in w.db["open_claims"].docs
        assert not await w.ledger.update(key, {"status": "sent"}, owner="other")
        assert key in w.db["open_claims"].docs  # not ours: still open
        assert await w.ledger.update(key, {"status": "retrying"})
        assert key not in w.db["open_claims"].docs
        assert await w.ledger.update(key, {"status": "sending", "touched_at": now})  # round 2
        assert w.db["open_claims"].docs[key]["unit_id"] == "province:a"
        await w.ledger.release(key, "me")
        assert key not in w.db["open_claims"].docs and key not in w.db["ledger"].docs
        # a claim lost to an entry already settled (an SMS's fallback to an e-mail that
        # went out) leaves no open claim behind
        assert await w.ledger.claim({**entry, "status": "sent"}) is True
        assert not await w.ledger.claim(entry)
        assert key not in w.db["open_claims"].docs

    run(go())


def test_abandoned_claims_are_found_through_open_claims_not_the_ledger() -> None:
    async def go() -> None:
        w = World(local(27, 10))
        old = datetime.now(UTC) - timedelta(minutes=5)
        dead = ledger_key("province:a", PERIOD, "d-3", "email", "u0@example.vn")
        done = ledger_key("province:b", PERIOD, "d-3", "email", "u1@example.vn")
        for key, uid in ((dead, "province:a"), (done, "province:b")):
            await w.ledger.claim({"_id": key, "unit_id": uid, "period": PERIOD, "stage": "d-3",
                                  "channel": "email", "recipient": "x", "status": "sending",
                                  "owner": "gone", "touched_at": old})
        # `done` was settled by a worker that died before deleting its open claim
        await w.db["ledger"].update_one({"_id": done}, {"$set": {"status": "sent"}})
        for n in range(50):  # unrelated history
            w.db["ledger"].docs[f"x{n}"] = {"_id": f"x{n}", "status": "sent"}
        await w.ledger.open_claims()  # the one-time backfill (nothing to add here)
        w.db.reset()
        assert await w.abandoned.reconcile() == [dead]
        assert w.db["ledger"].docs[dead]["status"] == "unknown"
        assert w.db["open_claims"].docs == {}
        assert {c[0] for c in w.db.scans()} == {"open_claims"}

    run(go())


def test_open_claims_are_backfilled_once_from_an_older_ledger() -> None:
    async def go() -> None:
        w = World(local(27, 10))
        old = datetime.now(UTC) - timedelta(minutes=5)
        key = ledger_key("province:a", PERIOD, "d-3", "email", "u0@example.vn")
        w.db["ledger"].docs[key] = {"_id": key, "unit_id": "province:a", "period": PERIOD,
                                    "stage": "d-3", "channel": "email", "recipient": "x",
                                    "status": "sending", "owner": "gone", "touched_at": old}
        assert await w.abandoned.reconcile() == [key]
        assert w.db["markers"].docs[OPEN_CLAIMS_BACKFILL]["documents"] == 1
        w.db.reset()
        assert await LedgerStore(w.db).open_claims() == []
        assert {c[0] for c in w.db.scans()} == {"open_claims"}

    run(go())


def test_reports_handled_together_are_one_write_of_their_periods_document() -> None:
    """A batch's reports are handled concurrently: their notes must not race on the
    period's document (FerretDB loses concurrent updates of one document)."""
    async def go() -> None:
        db = FakeDatabase()
        status = StatusStore(db)
        units = [f"province:u{i}" for i in range(30)]
        await asyncio.gather(*(status.note(u, PERIOD, i % 3 == 0) for i, u in enumerate(units)),
                             status.note("province:u1", PERIOD, True))
        writes = [c for c in db.calls if c[0] == "period_status" and c[1] != "find_one"]
        assert len(writes) <= 3  # the first lone note, then one write for the rest
        stored = db["period_status"].docs[str(PERIOD)]["units"]
        assert set(stored) == set(units)
        assert stored["province:u1"] is True and stored["province:u2"] is False

    run(go())
