"""End to end under load: an open-loop load of POST /v1/submissions at a fixed rate (each
request sent at its scheduled time, whether or not earlier ones were answered), with
every k-th accepted unit followed into reporting's read model; all services running.

Every request is a unit's first report of a (unit, period) pair no other request of the
run uses, so no two requests compete for one revision and the read model's document
`unit|period` appears exactly when that request's event has been applied."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench import workload
from bench.load import LoadResult, Request, drive
from bench.stack import BenchStack

POLL_SECONDS = 0.05  # how often the read model is asked for the sampled units
ANSWER_SECONDS = 60.0  # a request unanswered by then counts as status 0


def schedule(rate: float, seconds: float, limit: int) -> list[float]:
    """Send times (seconds from the start) of an open-loop load: one request every
    1/rate s for `seconds`, at most `limit` of them."""
    if rate <= 0 or seconds <= 0 or limit <= 0:
        return []
    count = min(limit, int(rate * seconds + 1e-9))
    return [i / rate for i in range(count)]


def sampled(count: int, every: int) -> set[int]:
    """The indexes followed end to end: every `every`-th request, the first included."""
    return set(range(0, count, max(1, every)))


def pairs(periods: Sequence[int], units_of: Callable[[int], Sequence[str]]
          ) -> Iterator[tuple[str, int]]:
    """(unit, period) pairs, each once: the units of each period in turn."""
    for period in periods:
        for unit in units_of(period):
            yield unit, period


class Arrivals:
    """Sampled requests, from their POST to their unit's document in the read model."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}  # read-model `_id` -> when its POST was sent
        self.answered: dict[str, float] = {}  # -> when its 202 came back
        self.seen: dict[str, float] = {}  # -> when a poll found it

    def expect(self, key: str, sent_at: float, answered_at: float) -> None:
        self.sent[key], self.answered[key] = sent_at, answered_at

    @property
    def pending(self) -> list[str]:
        return [k for k in self.sent if k not in self.seen]

    def found(self, keys: Sequence[str], at: float) -> None:
        for key in keys:
            if key in self.sent and key not in self.seen:
                self.seen[key] = at

    def latencies(self) -> list[float]:
        return [self.seen[k] - self.sent[k] for k in self.seen]

    def after_answer(self) -> list[float]:
        """From the 202 to the read model: the consumers' part of the way."""
        return [max(0.0, self.seen[k] - self.answered[k]) for k in self.seen]

    def unseen(self, now: float) -> list[float]:
        """For those never found: the time from their POST until `now` (a lower bound)."""
        return [now - self.sent[k] for k in self.pending]


@dataclass
class LoadRun:
    offered: float  # requests per second asked for
    sent: int
    send_seconds: float  # from the first send to the last
    elapsed: float  # from the first send to the last answer
    late_max: float  # the scheduler's worst lateness against a request's send time
    statuses: Counter[int] = field(default_factory=Counter)
    post_latencies: list[float] = field(default_factory=list)  # 202 answers only
    arrivals: Arrivals = field(default_factory=Arrivals)
    wait: float = 0.0  # how long the followed units were waited for after the last answer
    unseen: list[float] = field(default_factory=list)  # lower bounds of those not seen

    @property
    def sent_rate(self) -> float:
        return (self.sent - 1) / self.send_seconds if self.sent > 1 and self.send_seconds else 0.0

    @property
    def accepted_rate(self) -> float:
        return self.statuses.get(202, 0) / self.elapsed if self.elapsed else 0.0


Finder = Callable[[list[str]], Awaitable[list[str]]]


async def poll(arrivals: Arrivals, find: Finder, until: Callable[[], bool]) -> None:
    """Ask for every pending sampled unit at once (`_id` `$in`), every POLL_SECONDS,
    until `until()`; a unit is seen when the answer that holds it returns."""
    while not until():
        waiting = arrivals.pending
        if waiting:
            arrivals.found(await find(waiting), time.perf_counter())
        await asyncio.sleep(POLL_SECONDS)


async def open_loop(url: str, requests: Sequence[Request], keys: Sequence[str | None],
                    rate: float, find: Finder, wait: float = 60.0,
                    request_timeout: float = ANSWER_SECONDS) -> LoadRun:
    """Send `requests` at `rate` (open loop); a request with a key (its read model `_id`)
    is followed there once answered 202. After the last answer, waits at most `wait` s
    for the followed units still missing. A request not answered within `request_timeout`
    s in all (pool, connect, send, answer) counts as status 0."""
    times = schedule(rate, len(requests) / rate, len(requests))
    run = LoadRun(offered=rate, sent=0, send_seconds=0.0, elapsed=0.0, late_max=0.0)
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(base_url=url, limits=limits,
                                 timeout=request_timeout) as client:
        async def one(req: Request, key: str | None) -> None:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(request_timeout):
                    resp = await client.post(req.path, content=req.body, headers=req.headers)
            except (httpx.HTTPError, TimeoutError):
                run.statuses[0] += 1
                return
            run.statuses[resp.status_code] += 1
            if resp.status_code == 202:
                answered = time.perf_counter()
                run.post_latencies.append(answered - started)
                if key is not None:
                    run.arrivals.expect(key, started, answered)

        sending, give_up = True, float("inf")

        def finished() -> bool:
            return not sending and (not run.arrivals.pending or time.perf_counter() > give_up)

        poller = asyncio.ensure_future(poll(run.arrivals, find, finished))
        tasks = []
        start = time.perf_counter()
        for at, req, key in zip(times, requests, keys, strict=False):
            delay = start + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            run.late_max = max(run.late_max, time.perf_counter() - start - at)
            tasks.append(asyncio.ensure_future(one(req, key)))
            run.sent += 1
        run.send_seconds = time.perf_counter() - start
        await asyncio.gather(*tasks)
        run.elapsed = time.perf_counter() - start
        give_up, sending = time.perf_counter() + wait, False
        await poller
    run.wait = wait
    run.unseen = run.arrivals.unseen(time.perf_counter())
    return run


def load_requests(stack: BenchStack, chosen: Sequence[tuple[str, int]], every: int
                  ) -> tuple[list[Request], list[str | None]]:
    """First reports of the chosen pairs, and the read-model `_id` of the sampled ones."""
    tag = uuid.uuid4().hex[:8]
    follow = sampled(len(chosen), every)
    reqs, keys = [], []
    for i, (unit, period) in enumerate(chosen):
        body = json.dumps(workload.request_body(unit, period, i)).encode()
        reqs.append(Request("/v1/submissions", body, {
            "Authorization": f"Bearer {stack.token(unit)}",
            "Idempotency-Key": f"bench-load-{tag}-{i}", "Content-Type": "application/json"}))
        keys.append(f"{unit}|{period}" if i in follow else None)
    return reqs, keys


def run(stack: BenchStack, chosen: Sequence[tuple[str, int]], rate: float, every: int,
        wait: float = 60.0) -> LoadRun:
    """One open-loop run over `chosen`, the read model polled on the stack's FerretDB."""
    reqs, keys = load_requests(stack, chosen, every)

    async def go() -> LoadRun:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url)
        coll = client["emulation_reporting"]["rm_submissions"]

        async def find(ids: list[str]) -> list[str]:
            return [d["_id"] async for d in coll.find({"_id": {"$in": ids}}, {"_id": 1})]

        try:
            return await open_loop(stack.url("submissions"), reqs, keys, rate, find, wait)
        finally:
            await client.close()

    return asyncio.run(go())


def closed_loop(stack: BenchStack, chosen: Sequence[tuple[str, int]], concurrency: int,
                seconds: float) -> LoadResult:
    """The same kind of requests at a fixed concurrency (what the intake phase does), for
    comparison: the rate the intake reaches when no more than `concurrency` are sent."""
    reqs, _ = load_requests(stack, chosen, len(chosen) + 1)
    return asyncio.run(drive(stack.url("submissions"), reqs, concurrency, seconds))
