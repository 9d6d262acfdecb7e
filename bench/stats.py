"""The statistics every benchmark reports: percentiles of latencies, medians over
repeats, and the ratio of a figure to its anchor (measured in the same run)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks
    (numpy's default), so p50 of an even count is the mean of the middle two."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def ratio(figure: float, anchor: float) -> float:
    """figure / anchor; NaN when the anchor is zero or missing (never a division error)."""
    if not anchor or math.isnan(anchor) or math.isnan(figure):
        return math.nan
    return figure / anchor


def spread(values: Sequence[float]) -> float:
    """(max - min) / median: how much the repeats disagree, as a fraction."""
    if not values:
        return math.nan
    mid = median(values)
    return (max(values) - min(values)) / mid if mid else math.nan


@dataclass
class Row:
    """One line of the results table: a figure and its anchor over repeats. `higher`
    says whether a larger figure is better (rates) or worse (latencies, costs)."""

    name: str
    unit: str
    figures: list[float] = field(default_factory=list)
    anchor_name: str = ""
    anchors: list[float] = field(default_factory=list)
    goal: float | None = None  # the ratio the issue asks for, if any
    higher: bool = True
    note: str = ""

    @property
    def figure(self) -> float:
        return median(self.figures) if self.figures else math.nan

    @property
    def anchor(self) -> float:
        return median(self.anchors) if self.anchors else math.nan

    @property
    def ratios(self) -> list[float]:
        """The ratio of each repeat (figure and anchor measured side by side)."""
        return [ratio(f, a) for f, a in zip(self.figures, self.anchors, strict=False)]

    @property
    def ratio(self) -> float:
        """Median of the per-repeat ratios: robust to a machine that slows down for a
        whole repeat, which hits the figure and its anchor alike."""
        found = [r for r in self.ratios if not math.isnan(r)]
        return median(found) if found else math.nan

    @property
    def goal_met(self) -> bool | None:
        if self.goal is None or math.isnan(self.ratio):
            return None
        return self.ratio >= self.goal if self.higher else self.ratio <= self.goal


def fmt(value: float, digits: int = 3) -> str:
    """A number for the table: three significant digits, thousands separated."""
    if value is None or math.isnan(value):
        return "n/a"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"
