"""The reporting tests' sample data (tests/unit/reporting_samples.py) is what the
service's projections make."""

from __future__ import annotations

from tests.unit.reporting_samples import sample_state


def test_samples_are_built_by_the_projections() -> None:
    state = sample_state()
    assert state["reports"]["police:bac-ninh"]["on_time"] is False
    assert state["reports"]["province:ha-noi"]["contents"]["movement_quality"][
        "indicators"] == {"models_replicated": 32}
    assert len(state["reminders"]["police:quang-ninh"]) == 2
