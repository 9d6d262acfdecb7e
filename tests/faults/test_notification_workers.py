"""Scale-out of the reminders: two notifications workers (the same consumer group and
database, another HTTP port) split the units by their partition of emulation.units.v1;
a stage ticked on both at once, twice, sends each reminder once (the ledger key is
claimed by insert). One worker is then killed with -9: the other takes its partitions
over and sends the next stage to every unit, again once. The SMTP peer's records are
compared with the ledger, message by message."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest

from devstack import parts
from services.notifications.domain import partition_of
from tests.integration.season_support import (
    Sinks,
    assert_sinks_match_ledger,
    expected_keys,
    keys,
    ledger,
    put_campaign,
    units_of,
    when,
)
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2067
BEFORE = f"{PERIOD}-10-01T09:00:00+07:00"  # before the campaign's first stage


def tick(url: str, stack: Stack) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=180,
                      headers={"Authorization": f"Bearer {stack.operator}",
                               "Audit-Reason": "fault test"}) as c:
        r = c.post("/v1/admin/tick")
    assert r.status_code == 200, r.text
    return dict(r.json())


def set_clock(url: str, stack: Stack, iso: str) -> None:
    with httpx.Client(base_url=url, timeout=30,
                      headers={"Authorization": f"Bearer {stack.operator}",
                               "Audit-Reason": "fault test"}) as c:
        r = c.put("/v1/admin/clock", json={"now": iso})
    assert r.status_code == 200, r.text


def owners(stack: Stack, period: int) -> Counter[str]:
    """Which worker claimed each ledger entry (straight from the shared database)."""
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(stack.cfg.mongo_url)
    try:
        docs = client["emulation_notifications"]["ledger"].find({"period": period})
        return Counter(str(d.get("owner")) for d in docs)
    finally:
        client.close()


def test_two_notification_workers_send_each_reminder_once_and_take_over(
        clock: Stack) -> None:
    stack = clock
    registry = units_of(stack, PERIOD)
    by_partition: dict[int, list[str]] = defaultdict(list)
    for unit in sorted(registry):
        if registry[unit]["emails"]:
            by_partition[partition_of(unit, 6)].append(unit)
    audience = [u for p in range(6) for u in by_partition[p][:2]]  # both workers have some
    put_campaign(stack, PERIOD, audience, channels=["email"])
    sinks = Sinks(stack)

    main = stack.cfg.service_url("notifications")
    port = stack.cfg.kafka_port - 92 + 13  # <TEST_PORT_BASE> + 13
    extra = f"http://127.0.0.1:{port}"
    parts.proc(stack.cfg, "notifications-2").stop()  # a leftover of an interrupted run
    worker = parts.start_instance(stack.cfg, "notifications", "2", port)
    try:
        set_clock(extra, stack, BEFORE)
        stack.set_clock(BEFORE)

        def split() -> Any:
            a, b = set(tick(main, stack)["partitions"]), set(tick(extra, stack)["partitions"])
            return a and b and not a & b and a | b == set(range(6)) and (a, b)

        wait_for("the two workers to split the registry's partitions", split, timeout=120)

        # The stage, on both workers at once, twice over.
        stack.set_clock(when(PERIOD, "d-7"))
        set_clock(extra, stack, when(PERIOD, "d-7"))
        reports: list[dict[str, Any]] = []
        passes = [threading.Thread(target=lambda u=url: reports.append(tick(u, stack)))
                  for url in (main, extra, main, extra)]
        for t in passes:
            t.start()
        for t in passes:
            t.join(240)
        assert len(reports) == 4, "a pass failed"
        rows = ledger(stack, PERIOD)
        want: Counter[tuple[str, ...]] = Counter()
        for unit in audience:
            want += expected_keys(registry, unit, ["d-7"], ("email",))
        assert keys(rows) == want
        assert {r["status"] for r in rows} <= {"sent", "delivered"}
        assert_sinks_match_ledger(sinks, rows, PERIOD)
        assert len(owners(stack, PERIOD)) == 2, "both workers sent their units' reminders"

        worker.kill9()
        wait_for("the survivor to own every partition", lambda: tick(main, stack)[
            "partitions"] == list(range(6)), timeout=120)
        stack.set_clock(when(PERIOD, "d-3"))
        tick(main, stack)
        rows = ledger(stack, PERIOD)
        for unit in audience:
            want += expected_keys(registry, unit, ["d-3"], ("email",))
        assert keys(rows) == want  # d-3 to every unit, the dead worker's included; once
        assert {r["status"] for r in rows} <= {"sent", "delivered"}
        assert_sinks_match_ledger(sinks, rows, PERIOD)
    finally:
        worker.stop()
