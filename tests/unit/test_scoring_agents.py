"""Scoring's stream entrypoints are declared in agents.py: its two topics, each with its
agent, and the periodic job that publishes the rankings (nothing connects here)."""

from __future__ import annotations

from typing import Any

import pytest

from services.common import runtime
from services.common.topics import SUBMISSIONS, UNITS
from services.scoring import bootstrap


def test_the_app_consumes_submissions_and_units_and_ticks_the_rankings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[runtime.Runtime] = []

    def keep(*args: Any, **kwargs: Any) -> runtime.Runtime:
        rt = runtime.build_runtime(*args, **kwargs)
        built.append(rt)
        return rt

    monkeypatch.setattr(bootstrap, "build_runtime", keep)
    bootstrap.create_app()
    [rt] = built
    assert sorted(rt.faust_app.agents) == ["scoring-submissions", "scoring-units"]
    assert rt.consumed_topics() == {SUBMISSIONS, UNITS}
    periodic = [cell.cell_contents for loop in rt.background for cell in loop.__closure__ or ()]
    assert [job.__qualname__ for job in periodic if callable(job)].count(
        "StandingsPublisher.tick") == 1
