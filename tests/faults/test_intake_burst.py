"""Ten times the normal intake at once: back-pressure, not collapse. Past its in-flight
limit (EMULATION_MAX_INFLIGHT_SUBMISSIONS) the intake answers 429 with Retry-After at
once; nothing hangs, nothing answers 5xx, the service stays ready, every 202 is stored
exactly once and a 429 stores nothing (its retry, later, is accepted)."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.submissions.settings import SubmissionsSettings
from tests.faults.streams import Item, body_for, metric, post_until_accepted, units_of
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2063
NOW = f"{PERIOD}-11-20T09:00:00+07:00"
# Systems of units sending at the same moment on a busy hour of the last week: as many
# as the intake's default in-flight limit, so normal intake never meets it.
NORMAL = SubmissionsSettings().max_inflight_submissions
BURST = 10 * NORMAL
TIMEOUT = httpx.Timeout(60.0)  # per request: an answer, or the test fails as a hang


@dataclass
class Sent:
    item: Item
    status: int | None = None
    body: dict[str, Any] | None = None
    retry_after: str | None = None
    content_type: str = ""
    error: str | None = None


async def send_all(stack: Stack, items: list[Item], concurrency: int
                   ) -> tuple[list[Sent], list[int]]:
    """Every item at once through `concurrency` connections; /readyz polled meanwhile."""
    url = stack.cfg.service_url("submissions")
    limits = httpx.Limits(max_connections=concurrency,
                          max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    results = [Sent(item) for item in items]
    readiness: list[int] = []
    finished = asyncio.Event()

    async def one(client: httpx.AsyncClient, sent: Sent) -> None:
        async with gate:
            try:
                r = await client.post("/v1/submissions", json=sent.item.body, headers={
                    "Authorization": f"Bearer {stack.token(sent.item.unit)}",
                    "Idempotency-Key": sent.item.key})
            except httpx.HTTPError as exc:
                sent.error = repr(exc)
                return
            sent.status, sent.retry_after = r.status_code, r.headers.get("retry-after")
            sent.content_type = r.headers.get("content-type", "")
            sent.body = r.json()

    async def probe() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as c:
            while not finished.is_set():
                readiness.append((await c.get("/readyz")).status_code)
                await asyncio.sleep(0.5)

    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT, limits=limits) as client:
        watcher = asyncio.create_task(probe())
        await asyncio.gather(*(one(client, s) for s in results))
        finished.set()
        await watcher
    return results, readiness


def test_a_burst_of_ten_times_normal_intake_meets_back_pressure(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack = clock
    stack.set_clock(NOW)
    units = units_of(stack, PERIOD)
    url = stack.cfg.service_url("submissions")
    shed_before = metric(url, "http_requests_shed_total", route="/v1/submissions")

    # Normal intake: NORMAL systems at once are all served.
    normal = [Item(u, body_for(example_request, u, PERIOD, 7, f"normal {u}"), f"normal-{u}")
              for u in units[:NORMAL]]
    normal_results, _ = asyncio.run(send_all(stack, normal, NORMAL))
    assert [(s.status, s.error) for s in normal_results] == [(202, None)] * NORMAL

    # The burst: every unit's report, a retry of it with the same key, and an amendment.
    burst: list[Item] = []
    for u in units:
        first = Item(u, body_for(example_request, u, PERIOD, 8, f"burst a {u}"), f"a-{u}")
        burst += [first, Item(u, first.body, first.key),
                  Item(u, body_for(example_request, u, PERIOD, 9, f"burst b {u}"), f"b-{u}")]
    random.Random(PERIOD).shuffle(burst)
    results, readiness = asyncio.run(send_all(stack, burst, BURST))

    errors = [s.error for s in results if s.error]
    assert errors == [], errors[:5]  # no hang, no dropped connection
    statuses = [s.status for s in results]
    assert set(statuses) <= {202, 429}, sorted(set(statuses))
    assert statuses.count(202) and statuses.count(429), "the burst never met the limit"
    for s in results:
        if s.status == 429:
            assert s.retry_after and int(s.retry_after) >= 1
            assert s.content_type.startswith("application/problem+json")
            assert s.body and s.body["type"].endswith(":too-many-requests")
    assert readiness and set(readiness) == {200}, readiness
    shed = metric(url, "http_requests_shed_total", route="/v1/submissions") - shed_before
    assert shed == statuses.count(429)

    # Back-pressure is temporary: a few refused requests, retried, are accepted.
    accepted = {s.item.key for s in results if s.status == 202}
    refused = sorted({s.item.key: s.item for s in results
                      if s.status == 429 and s.item.key not in accepted}.values(),
                     key=lambda i: i.key)[:5]
    for item in refused:
        post_until_accepted(stack, item, timeout=120)
        accepted.add(item.key)

    # Every accepted key is stored exactly once; nothing was stored for a 429 alone.
    by_key = {i.key: i for i in [*normal, *burst]}
    answered: dict[str, set[str]] = defaultdict(set)  # key: submission ids in its 202s
    for s in results:
        if s.status == 202 and s.body:
            answered[s.item.key].add(s.body["submission_id"])
    for item in refused:
        assert item.receipt is not None
        answered[item.key].add(item.receipt["submission_id"])
    for s in normal_results:
        assert s.body is not None
        answered[s.item.key].add(s.body["submission_id"])
        accepted.add(s.item.key)
    assert {k: ids for k, ids in answered.items() if len(ids) != 1} == {}
    in_store = stored_in_period(stack, PERIOD)  # one query, not a hundred
    for unit in units:
        keys = {k for k in accepted if by_key[k].unit == unit}
        docs = in_store.get(unit, [])
        assert sorted(d["content"]["notes"] for d in docs) == sorted(
            by_key[k].body["notes"] for k in keys), unit
        assert {d["_id"] for d in docs} == {i for k in keys for i in answered[k]}
        assert [d["revision"] for d in docs] == list(range(1, len(docs) + 1))
    # On Kafka at the 202; marked published (out of the outbox) just after it (ADR 0001).
    wait_for("every stored submission marked published", lambda: not in_outbox(
        stack, [d["_id"] for docs in stored_in_period(stack, PERIOD).values()
                for d in docs]) or None, timeout=60)


def in_outbox(stack: Stack, ids: list[str]) -> set[str]:
    """Those of `ids` the submissions database's outbox still holds: not marked
    published (a submission is published once out of the outbox)."""
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(stack.cfg.mongo_url)
    try:
        return {e["_id"] for e in client["emulation_submissions"]["outbox"].find(
            {"_id": {"$in": ids}}, {"_id": 1})}
    finally:
        client.close()


def stored_in_period(stack: Stack, period: int) -> dict[str, list[dict[str, Any]]]:
    """The submissions database's documents of the period, by unit, in revision order."""
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(stack.cfg.mongo_url)
    try:
        docs = client["emulation_submissions"]["submissions"].find(
            {"period": period}, {"event": 0})
        by_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for doc in sorted(docs, key=lambda d: (d["unit_id"], d["revision"])):
            by_unit[doc["unit_id"]].append(doc)
        return by_unit
    finally:
        client.close()
