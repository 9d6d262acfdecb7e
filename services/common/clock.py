"""The platform's clock: real time, or a clock that tests and the demo can set."""

from __future__ import annotations

import bisect
import threading
from datetime import UTC, datetime, timedelta

# Settings of a controlled clock remembered for `at`: far more than a demo season makes.
HISTORY = 1000


class Clock:
    """Real time. Every service asks its clock, never `datetime.now()` directly."""

    controllable = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def at(self, wall: datetime) -> datetime:
        """What this clock showed at the real instant `wall` (e.g. when a record reached
        Kafka): the same instant for real time."""
        return wall.astimezone(UTC)


class ControlledClock(Clock):
    """Real time shifted by an offset, or frozen; set only through operator actions.
    Remembers its settings, so `at` maps a real instant of the past to the time this
    clock showed then, whatever it was set to since. Until it is first set, a process's
    clock has shown real time only for want of a setting: the first setting is then
    taken to hold from the start too, so a record appended before a restarted process
    was set (while it was down) is read as the environment's clock showed it, not on
    the real date."""

    controllable = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (real time from which it holds, offset, frozen time or None), oldest first.
        self._since: list[datetime] = [datetime.min.replace(tzinfo=UTC)]
        self._settings: list[tuple[timedelta, datetime | None]] = [(timedelta(0), None)]
        self._set_yet = False

    def now(self) -> datetime:
        return self.at(datetime.now(UTC))

    def at(self, wall: datetime) -> datetime:
        wall = wall.astimezone(UTC)
        with self._lock:
            # Before the oldest remembered setting: the oldest is the best guess.
            i = max(0, bisect.bisect_right(self._since, wall) - 1)
            offset, frozen = self._settings[i]
        return frozen if frozen is not None else wall + offset

    def set(self, when: datetime, *, frozen: bool = False) -> None:
        if when.tzinfo is None:
            raise ValueError("the time must carry a timezone offset")
        real = datetime.now(UTC)
        self._remember(real, (timedelta(0), when.astimezone(UTC)) if frozen
                       else (when - real, None))

    def reset(self) -> None:
        self._remember(datetime.now(UTC), (timedelta(0), None))

    def _remember(self, real: datetime, setting: tuple[timedelta, datetime | None]) -> None:
        with self._lock:
            if not self._set_yet:
                self._set_yet = True
                self._settings[0] = setting  # holds from the start (see the class)
                return
            # Real time only moves forward; a setting never lands before the last one.
            real = max(real, self._since[-1])
            self._since.append(real)
            self._settings.append(setting)
            if len(self._since) > HISTORY:
                del self._since[0], self._settings[0]
