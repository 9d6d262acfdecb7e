"""ConsumerWatch: /livez fails only for a consumer that has had records waiting and
processed none, or held no partition while its group had work, for longer than the
setting; never for an idle consumer, one waiting on its database, or while Kafka is away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from services.common.auth import TokenStore
from services.common.clock import Clock
from services.common.http import create_app
from services.common.watch import ConsumerWatch

T = "emulation.submissions.v1"


class Time:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def watch() -> tuple[ConsumerWatch, Time]:
    now = Time()
    return ConsumerWatch("emulation-scoring", 120.0, now=now), now


def test_a_consumer_with_waiting_records_and_no_progress_is_stalled_after_the_limit() -> None:
    w, now = watch()
    w.observe({(T, 0), (T, 1)}, {(T, 0): 0, (T, 1): 0, (T, 2): 0})
    now.t += 500  # idle for long: nothing waits, so no stall
    w.observe({(T, 0), (T, 1)}, {(T, 0): 0, (T, 1): 0, (T, 2): 0})
    assert w.verdict().live
    now.t += 5
    w.observe({(T, 0), (T, 1)}, {(T, 0): 300, (T, 1): 0, (T, 2): 0})
    now.t += 100
    w.progressed()  # it moves: still live however long the backlog lasts
    now.t += 100
    assert w.verdict().live
    now.t += 30
    verdict = w.verdict()
    assert not verdict.live and verdict.detail["lag"] == 300
    assert "stalled" in verdict.detail["problems"][0]


def test_waiting_on_a_dependency_is_alive_and_kafka_away_gives_no_verdict() -> None:
    w, now = watch()
    w.observe({(T, 0)}, {(T, 0): 10})
    for _ in range(10):
        now.t += 60
        w.retrying()  # the database is down: a restart would not help
    assert w.verdict().live
    now.t += 200
    assert not w.verdict().live
    w.lag_unknown("KafkaConnectionError()")
    assert w.verdict().live and "lag_error" in w.verdict().detail


def test_holding_no_partition_while_the_group_has_work_is_a_stall() -> None:
    w, now = watch()
    w.observe(set(), {(T, 0): 0})
    now.t += 300
    w.observe(set(), {(T, 0): 0})
    assert w.verdict().live  # a spare worker of an idle group
    w.observe(set(), {(T, 0): 250})
    now.t += 121
    w.observe(set(), {(T, 0): 250})
    verdict = w.verdict()
    assert not verdict.live and "held no partition" in verdict.detail["problems"][0]


@contextlib.asynccontextmanager
async def no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def test_livez_answers_503_with_the_detail_and_readyz_reports_it(tmp_path: Path) -> None:
    (tmp_path / "hashed.json").write_text('{"operator": "", "units": {}}')
    w, now = watch()

    async def ok() -> None:
        return None

    app = create_app(title="t", lifespan=no_lifespan, tokens=TokenStore(tmp_path / "hashed.json"),
                     clock=Clock(), readiness={"kafka": ok}, max_body_bytes=1000,
                     liveness=w.verdict)

    async def get(path: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:
            return await client.get(path)

    assert asyncio.run(get("/livez")).status_code == 200
    w.observe({(T, 3)}, {(T, 3): 400})
    now.t += 121
    live, ready = asyncio.run(get("/livez")), asyncio.run(get("/readyz"))
    assert live.status_code == 503 and live.json()["type"].endswith(":consumer-stalled")
    assert live.json()["consumers"]["assigned"] == [f"{T}[3]"]
    assert ready.status_code == 200 and ready.json()["consumers"]["lag"] == 400


def test_a_stall_is_logged_once_and_its_end_too(caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="services.common.watch")
    w, now = watch()
    w.observe({(T, 0)}, {(T, 0): 5})
    now.t += 121
    for _ in range(3):
        w.observe({(T, 0)}, {(T, 0): 5})
    w.progressed()
    w.observe({(T, 0)}, {(T, 0): 0})
    assert [r.getMessage() for r in caplog.records if r.name == "services.common.watch"] == [
        "consumer stalled", "consumer moves again"]


def test_an_idle_consumer_with_waiting_records_is_nudged_once_per_period_never_when_busy(
        ) -> None:
    w, now = watch()
    w.observe({(T, 0)}, {(T, 0): 4})
    now.t += 20
    assert not w.needs_nudge(30)  # not idle long enough
    w.busy = 1
    now.t += 20
    assert not w.needs_nudge(30)  # a batch is being handled: slow, not wedged
    w.busy = 0
    assert w.needs_nudge(30)
    w.nudged()
    now.t += 10
    assert not w.needs_nudge(30)  # one nudge per period
    w.progressed()
    now.t += 31
    w.observe({(T, 0)}, {(T, 0): 0})
    assert not w.needs_nudge(30)  # caught up: nothing waits
    w.observe({(T, 1)}, {(T, 0): 5, (T, 1): 0})
    now.t += 31
    assert not w.needs_nudge(30)  # the waiting records are on another's partition
