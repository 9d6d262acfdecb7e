"""Scoring's stream entrypoints are declared in agents.py: its two topics, each with its
agent, and the periodic job that publishes the rankings (nothing connects here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.common.kafka import make_faust_app
from services.common.topics import SUBMISSIONS, UNITS
from services.scoring import agents


class Runtime:
    """What agents.register uses of the runtime: a faust app, record loops, timers."""

    def __init__(self) -> None:
        self.faust_app = make_faust_app("emulation-scoring-test", "127.0.0.1:9")
        self.loops: list[str] = []
        self.timers: list[tuple[float, Callable[[], Any]]] = []

    def record_loop(self, consumer: str) -> object:
        self.loops.append(consumer)
        return object()

    def every(self, seconds: float, job: Callable[[], Any]) -> None:
        self.timers.append((seconds, job))


class Rankings:
    async def tick(self) -> None: ...


def test_scoring_consumes_submissions_and_units_and_ticks_the_rankings() -> None:
    rt, rankings = Runtime(), Rankings()
    agents.register(rt, scorer=object(), replica=object(), rankings=rankings,
                    rankings_interval=1.5)
    found = {name: set(agent.channel.topics)
             for name, agent in rt.faust_app.agents.items()}
    assert found == {"scoring-submissions": {SUBMISSIONS}, "scoring-units": {UNITS}}
    assert rt.loops == ["scoring"]
    assert rt.timers == [(1.5, rankings.tick)]
