"""Reporting's stream entrypoints are declared in agents.py: one agent per topic it reads,
each through one record loop to the handler a rebuild replays into (nothing connects)."""

from __future__ import annotations

from services.common.envelope import Event
from services.common.kafka import make_faust_app
from services.common.topics import NOTIFICATIONS, SCORES, SUBMISSIONS, UNITS
from services.reporting import agents


class Runtime:
    """What agents.register uses of the runtime: a faust app and record loops."""

    def __init__(self) -> None:
        self.faust_app = make_faust_app("emulation-reporting-test", "127.0.0.1:9")
        self.loops: list[str] = []

    def record_loop(self, consumer: str) -> object:
        self.loops.append(consumer)
        return object()


async def handle(_: Event) -> None: ...


def test_reporting_reads_its_four_topics_each_with_its_agent() -> None:
    rt = Runtime()
    agents.register(rt, dict.fromkeys((SUBMISSIONS, SCORES, NOTIFICATIONS, UNITS), handle))
    found = {name: set(agent.channel.topics) for name, agent in rt.faust_app.agents.items()}
    assert found == {"reporting-submissions": {SUBMISSIONS}, "reporting-scores": {SCORES},
                     "reporting-notifications": {NOTIFICATIONS}, "reporting-units": {UNITS}}
    assert rt.loops == ["reporting"]
