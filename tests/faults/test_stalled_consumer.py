"""A consumer stalled on purpose (it holds its partitions and fetches nothing, as after
the restart stall in docs/faults.md) is reported by its /livez within the configured
time and restarted by the supervisor's watchdog; the records it sat on are then
processed. A second reporting process (same group, another port, a 15 s stall limit)
is the one stalled, so the stack's own services are left as they are."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from devstack import parts, supervise
from tests.faults.streams import topic_records
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
NOTIFICATIONS = "emulation.notifications.v1"  # only reporting consumes it
DEAD_LETTERS = "emulation.dead-letters.v1"
STALL_SECONDS = 15
ENV = {"EMULATION_CONSUMER_STALL_SECONDS": str(STALL_SECONDS),
       "EMULATION_FAULT_INJECTION": "true"}


def get(url: str, path: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=15) as c:
        return c.get(path)


def test_a_stalled_consumer_fails_livez_and_the_supervisor_restarts_it(stack: Stack) -> None:
    port = stack.cfg.kafka_port - 92 + 14  # <TEST_PORT_BASE> + 14
    url = f"http://127.0.0.1:{port}"
    proc = parts.proc(stack.cfg, "reporting-stall")
    proc.stop()  # a leftover of an interrupted run, if any
    parts.start_instance(stack.cfg, "reporting", "stall", port, env=ENV)
    try:
        held = wait_for("the second worker to hold partitions of the notifications topic",
                        lambda: [p for p in get(url, "/readyz").json().get(
                            "consumers", {}).get("assigned", []) if NOTIFICATIONS in p],
                        timeout=120)
        assert get(url, "/livez").status_code == 200
        with httpx.Client(base_url=url, timeout=15) as c:
            r = c.post("/v1/admin/faults/stall-consumer",
                       headers={"Authorization": f"Bearer {stack.operator}",
                               "Audit-Reason": "fault test"})
        assert r.status_code == 200 and set(held) <= set(r.json()["paused"]), r.text

        # Records on every partition: the stalled worker's share waits.
        marker = f"stall-{uuid.uuid4().hex[:10]}"
        sent: set[tuple[int, int]] = set()
        producer = stack.producer()
        try:
            for n in range(36):
                meta = producer.send(NOTIFICATIONS, key=f"{marker}-{n}".encode(),
                                     value=f"{marker}-{n}: not an event".encode()).get(60)
                sent.add((meta.partition, meta.offset))
        finally:
            producer.close()
        mine = {int(p.rsplit("[", 1)[1].rstrip("]")) for p in held}
        assert {p for p, _ in sent} & mine, "no record landed on the stalled partitions"

        stalled_at = time.monotonic()
        verdict = wait_for("/livez to report the stall", lambda: (
            r := get(url, "/livez")).status_code == 503 and r.json(), timeout=90)
        assert time.monotonic() - stalled_at < STALL_SECONDS + 40  # limit + lag reads
        assert verdict["consumers"]["lag"] > 0 and verdict["consumers"]["assigned"]
        assert "stalled" in verdict["detail"]
        assert get(url, "/readyz").json()["consumers"]["problems"]

        restarts: list[str] = []

        def restart() -> None:
            proc.stop()
            parts.start_instance(stack.cfg, "reporting", "stall", port, env=ENV, wait=False)
            restarts.append("reporting-stall")

        dog = supervise.Watchdog([supervise.Target("reporting-stall", proc, url, restart)])
        deadline = time.monotonic() + 60
        while not restarts and time.monotonic() < deadline:
            dog.check()
            time.sleep(2)
        assert restarts == ["reporting-stall"]

        # Every record is dead-lettered by reporting, the stalled worker's share included.
        def letters() -> Any:
            rows = topic_records(stack.cfg.kafka_bootstrap, DEAD_LETTERS, lambda e: (
                e.get("data", {}).get("topic") == NOTIFICATIONS
                and e["data"]["value"].startswith(marker)))
            done = {(d["data"]["partition"], d["data"]["offset"]) for d in rows}
            return done if done >= sent else None

        wait_for("the records the stalled worker held to be processed", letters,
                 timeout=180)
        wait_for("the restarted worker to answer /livez", lambda: get(
            url, "/livez").status_code == 200, timeout=120)
        assert get(url, "/metrics").text.count(
            "kafka_consumer_last_progress_timestamp_seconds{") >= 1
    finally:
        proc.stop()
