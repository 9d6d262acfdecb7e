"""The benchmark harness's statistics (bench/stats.py) and its report page (bench/results.py):
what docs/benchmarks.md says is only as right as these."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.results import END, START, Results, write_markdown
from bench.stats import Row, fmt, median, percentile, ratio, spread


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_median_and_spread() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert spread([90.0, 100.0, 110.0]) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        median([])


def test_ratio_is_nan_without_an_anchor() -> None:
    assert ratio(5.0, 10.0) == 0.5
    assert math.isnan(ratio(5.0, 0.0))
    assert math.isnan(ratio(math.nan, 1.0))


def test_a_row_takes_the_median_of_per_repeat_ratios() -> None:
    # A slow second repeat slows figure and anchor alike; its ratio stays near the others.
    row = Row("intake", "req/s", figures=[60.0, 30.0, 62.0], anchors=[100.0, 50.0, 100.0],
              goal=0.6)
    assert row.figure == 60.0 and row.anchor == 100.0
    assert row.ratios == [0.6, 0.6, 0.62]
    assert row.ratio == 0.6
    assert row.goal_met is True


def test_goals_for_costs_point_the_other_way() -> None:
    cost = Row("cpu", "ms", figures=[12.0], anchors=[10.0], goal=1.1, higher=False)
    assert cost.ratio == pytest.approx(1.2)
    assert cost.goal_met is False
    assert Row("x", "s", figures=[1.0], anchors=[0.0], goal=1.0).goal_met is None
    assert Row("x", "s").goal_met is None


def test_numbers_print_with_three_significant_digits() -> None:
    assert fmt(1234.5) == "1,234"
    assert fmt(0.012345) == "0.0123"
    assert fmt(2.0) == "2.00"
    assert fmt(math.nan) == "n/a"


def test_the_page_keeps_its_written_part_and_replaces_the_generated_one(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Benchmarks\n\nWritten by hand.\n\n{START}\nold table\n{END}\n\nMore.\n")
    results = Results(setting={"date": "today", "repeats": 3})
    results.add(Row("intake", "req/s", figures=[5.0], anchor_name="bare", anchors=[10.0],
                    goal=0.6))
    write_markdown(page, results)
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nWritten by hand.\n")
    assert text.rstrip().endswith("More.")
    assert "old table" not in text
    assert "| intake (req/s) | 5.00 | bare | 10.0 | 0.500 | >= 0.6: **not met** |" in text
    assert text.count(START) == 1 and text.count(END) == 1
