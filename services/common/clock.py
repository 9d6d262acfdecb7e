"""The platform's clock: real time, or a clock that tests and the demo can set."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """Real time. Every service asks its clock, never `datetime.now()` directly."""

    controllable = False

    def now(self) -> datetime:
        return datetime.now(UTC)


class ControlledClock(Clock):
    """Real time shifted by an offset, or frozen; set only through operator actions."""

    controllable = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    def set(self, when: datetime, *, frozen: bool = False) -> None:
        if when.tzinfo is None:
            raise ValueError("the time must carry a timezone offset")
        with self._lock:
            if frozen:
                self._frozen = when.astimezone(UTC)
            else:
                self._frozen = None
                self._offset = when - datetime.now(UTC)

    def reset(self) -> None:
        with self._lock:
            self._frozen = None
            self._offset = timedelta(0)
