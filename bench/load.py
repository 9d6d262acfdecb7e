"""A closed-loop HTTP load generator: a fixed number of workers, each sending its next
request as soon as the previous one is answered (httpx AsyncClient, keep-alive)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from bench.stats import percentile


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class LoadResult:
    elapsed: float
    latencies: list[float]
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return self.ok / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) if self.latencies else float("nan")


async def drive(base_url: str, requests: Sequence[Request], concurrency: int,
                time_limit: float | None = None, request_timeout: float = 30.0
                ) -> LoadResult:
    """Send the requests with `concurrency` in flight; time the whole and each one. With
    a time limit, no request starts after it (those in flight finish): a slow server
    makes a shorter run, not a longer one."""
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base_url, limits=limits,
                                 timeout=request_timeout) as client:
        async def worker() -> None:
            while deadline is None or time.perf_counter() < deadline:
                try:
                    req = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    resp = await client.post(req.path, content=req.body, headers=req.headers)
                    statuses[resp.status_code] += 1
                except httpx.HTTPError:
                    statuses[0] += 1
                    continue
                if 200 <= resp.status_code < 300:  # a quick refusal is no latency figure
                    latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        deadline = started + time_limit if time_limit else None
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return LoadResult(elapsed=elapsed, latencies=latencies, statuses=statuses)
