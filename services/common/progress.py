"""A progress bar for the operators' long commands (rescore, rebuild) on a terminal;
plain lines, at most one per second, when the output is not one (logs, CI)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

WIDTH = 30
# What a long job tells as it advances: (stage, done, total or None).
Progress = Callable[[str, int, "int | None"], None]


def silent(stage: str, done: int, total: int | None) -> None:
    """A Progress that tells no one."""


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, every: float = 0.2) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every if self.tty else 1.0
        self._last, self._stage = 0.0, ""

    def __call__(self, stage: str, done: int, total: int | None = None) -> None:
        now = time.monotonic()
        final = total is not None and done >= total
        if stage == self._stage and not final and now - self._last < self.every:
            return
        self._last, self._stage = now, stage
        if total:
            filled = min(WIDTH, WIDTH * done // total)
            line = (f"{stage}: [{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{total} "
                    f"({100 * done // total}%)")
        else:
            line = f"{stage}: {done}"
        self.stream.write(("\r" + line + " " * 4) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
