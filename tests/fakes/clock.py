"""A clock that shows one instant (the services' `Clock`, services/common/clock.py)."""

from __future__ import annotations

from datetime import datetime

from services.common.clock import Clock


class FixedClock(Clock):
    def __init__(self, when: datetime) -> None:
        self.when = when

    def now(self) -> datetime:
        return self.when
