"""What the benchmarks read from the running services: Prometheus counters, and the
CPU time of processes (from /proc, to say which process a benchmark kept busy)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

TICKS = os.sysconf("SC_CLK_TCK")


def counter(base_url: str, name: str, **labels: str) -> float:
    """The sum of a counter's samples whose labels include `labels` (0 if none)."""
    text = httpx.get(base_url + "/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != name:
                continue
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def consumed(base_url: str, topic: str) -> float:
    """Records of `topic` a service processed (or dead-lettered) so far."""
    return counter(base_url, "events_consumed_total", topic=topic)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


class CpuMeter:
    """CPU seconds used by some processes between start() and stop()."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {k: v for k, v in pids.items() if v}
        self._start: dict[str, float] = {}
        self._wall = 0.0
        self.used: dict[str, float] = {}
        self.wall = 0.0

    def start(self) -> None:
        self._start = {k: cpu_seconds(p) for k, p in self.pids.items()}
        self._wall = time.perf_counter()

    def stop(self) -> dict[str, float]:
        self.wall = time.perf_counter() - self._wall
        self.used = {k: cpu_seconds(p) - self._start[k] for k, p in self.pids.items()}
        return self.used

    def share(self) -> dict[str, float]:
        """Each process's CPU use as a fraction of one core over the measured time."""
        return {k: v / self.wall for k, v in self.used.items()} if self.wall else {}
