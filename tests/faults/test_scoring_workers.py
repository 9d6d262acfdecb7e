"""Scale-out of a consumer: two scoring workers (the same consumer group, the same
database, another HTTP port) share the partitions of emulation.submissions.v1; one is
killed with -9 in the middle of a stream and the other takes its partitions over (after
the 10 s session timeout). No effect is lost or doubled: each unit's score in force is
its latest revision, each revision was scored into one event, and the cluster standings
rank exactly the submitted units by their scores. (Two notifications workers:
test_notification_workers.py.)"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import httpx
import pytest
from kafka.admin import KafkaAdminClient

from devstack import parts
from tests.faults.streams import (
    SUBMISSIONS,
    BackgroundStream,
    Item,
    assert_scored_once,
    body_for,
    latest_by_unit,
    metric,
    new_key,
    post_until_accepted,
)
from tests.stackfixture import Stack, admin_kafka, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2065
NOW = f"{PERIOD}-11-20T09:00:00+07:00"
GROUP = "emulation-scoring"


def assignment(bootstrap: str) -> dict[str, set[int]]:
    """Partitions of emulation.submissions.v1 per member of the scoring group."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="faults", **admin_kafka())
    try:
        group = admin.describe_groups([GROUP])[GROUP]
    finally:
        admin.close()
    if group["group_state"] != "Stable":
        return {}
    owned: dict[str, set[int]] = {}
    for member in group["members"]:
        topics = member["member_assignment"]["assigned_partitions"]
        owned[member["member_id"]] = {p for t in topics if t["topic"] == SUBMISSIONS
                                      for p in t["partitions"]}
    return owned


def police_units(stack: Stack) -> dict[str, str]:
    """Police units of the period and their MPS cluster."""
    with stack.as_operator("submissions") as c:
        units = c.get("/v1/units", params={"period": PERIOD}).json()
    return {u["unit_id"]: u["cluster_id"] for u in units
            if u["type"] == "police" and u["cluster_id"]}


def test_two_scoring_workers_share_partitions_and_one_takes_over(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack = clock
    stack.set_clock(NOW)
    port = stack.cfg.kafka_port - 92 + 12  # <TEST_PORT_BASE> + 12
    url = f"http://127.0.0.1:{port}"
    parts.proc(stack.cfg, "scoring-2").stop()  # a leftover of an interrupted run, if any
    worker = parts.start_instance(stack.cfg, "scoring", "2", port)
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            r = c.put("/v1/admin/clock", json={"now": NOW},
                      headers={"Authorization": f"Bearer {stack.operator}",
                               "Audit-Reason": "fault test"})
            assert r.status_code == 200, r.text
        shared = wait_for("both workers to own partitions", lambda: (
            a := assignment(stack.cfg.kafka_bootstrap)) and len(a) == 2
            and all(a.values()) and a, timeout=90)
        assert set().union(*shared.values()) == set(range(6))

        clusters = police_units(stack)
        units = sorted(clusters)[:18]
        items = [Item(u, body_for(example_request, u, PERIOD, 6 + i % 4, f"r1 {u}"),
                      new_key("workers")) for i, u in enumerate(units)]
        items[9:9] = [Item(u, body_for(example_request, u, PERIOD, 9, f"r2 {u}"),
                           new_key("workers")) for u in units[:6]]
        killed = threading.Event()
        # Half the stream comes after the kill.
        stream = BackgroundStream(
            items, lambda item: post_until_accepted(stack, item, timeout=180), {12: killed},
            240).start()
        done, failure = stream.done, stream.failure
        wait_for("the second worker to score some of the stream", lambda: failure or (
            len(done) >= 6 and metric(url, "events_consumed_total", topic=SUBMISSIONS,
                                      outcome="processed") > 0), timeout=180)
        assert not failure, failure
        worker.kill9()
        killed.set()
        killed_after = len(done)
        took_over = wait_for("one worker to own every partition", lambda: (
            a := assignment(stack.cfg.kafka_bootstrap)) and len(a) == 1 and a, timeout=90)
        assert set().union(*took_over.values()) == set(range(6))
        stream.join(300)
        assert not stream.is_alive() and not failure, failure
        assert killed_after < len(items)  # the stream went on across the takeover
    finally:
        worker.stop()

    latest = latest_by_unit(items)
    assert_scored_once(stack, PERIOD, latest, timeout=180)
    with stack.as_operator("scoring") as c:
        totals = {u: c.get(f"/v1/scores/{u}", params={"period": PERIOD}).json()["total"]
                  for u in latest}
        members: dict[str, set[str]] = defaultdict(set)
        for unit in latest:
            members[clusters[unit]].add(unit)
        for cluster, submitted in members.items():
            table = c.get(f"/v1/clusters/{cluster}/standings",
                          params={"period": PERIOD}).json()["standings"]
            scored = [row for row in table if row["submitted"]]
            assert {row["unit_id"] for row in scored} == submitted, cluster
            assert [row["rank"] for row in table] == list(range(1, len(table) + 1))
            for row in scored:
                assert row["score"] == totals[row["unit_id"]]
                assert row["revision"] == latest[row["unit_id"]]["revision"]
            assert [row["score"] for row in scored] == sorted(
                (row["score"] for row in scored), reverse=True), cluster
