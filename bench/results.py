"""What a benchmark run found: the table rows, facts noted along the way, and the run's
setting (machine, date, load), with the JSON and Markdown renderings of them."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stats import Row, fmt

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    # section -> lines of facts (sizes, CPU shares, per-hop rates) worth reading
    notes: dict[str, list[str]] = field(default_factory=dict)
    setting: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def note(self, section: str, line: str) -> None:
        self.notes.setdefault(section, []).append(line)
        print(f"    {line}", flush=True)

    def to_json(self) -> str:
        return json.dumps({"setting": self.setting, "notes": self.notes,
                           "rows": [asdict(r) | {"figure": r.figure, "anchor": r.anchor,
                                                 "ratio": r.ratio, "goal_met": r.goal_met}
                                    for r in self.rows]}, indent=1, default=str)


def machine() -> dict[str, Any]:
    """Where and when the numbers were taken: they only mean something beside this."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "python": platform.python_version(),
        "java": (java.splitlines() or ["?"])[0],
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def table(rows: list[Row]) -> str:
    head = ("| figure | median | anchor | anchor median | ratio (median of repeats) | goal "
            "| repeats (figure / anchor) |\n|---|---:|---|---:|---:|---|---|")
    lines = [head]
    for r in rows:
        goal = ""
        if r.goal is not None:
            sign = ">=" if r.higher else "<="
            met = {True: "met", False: "**not met**", None: "n/a"}[r.goal_met]
            goal = f"{sign} {r.goal:g}: {met}"
        reps = " ".join(fmt(x) for x in r.figures) + " / " + " ".join(fmt(x) for x in r.anchors)
        lines.append(f"| {r.name} ({r.unit}) | {fmt(r.figure)} | {r.anchor_name} "
                     f"| {fmt(r.anchor)} | {fmt(r.ratio)} | {goal} | {reps} |")
    return "\n".join(lines)


def markdown(results: Results) -> str:
    s = results.setting
    out = [START, "",
           f"Run of {s.get('date')} on {s.get('cores')} cores ({s.get('cpu')}), "
           f"{s.get('memory_gib')} GiB, Python {s.get('python')}, {s.get('java')}; "
           f"load average before the run {s.get('load_before')}, after "
           f"{s.get('load_after', '?')}; {s.get('repeats')} repeats, "
           f"{s.get('duration_s', '?')} s in all. Port base {s.get('port_base')}.", "",
           table(results.rows), ""]
    for section, lines in results.notes.items():
        out.append(f"**{section}**")
        out.append("")
        out.extend(f"- {line}" for line in lines)
        out.append("")
    out.append(END)
    return "\n".join(out)


def write_markdown(path: Path, results: Results) -> None:
    """Replace the generated part of the page (between the markers), keep the rest."""
    generated = markdown(results)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + generated + after
    else:
        text = (text.rstrip() + "\n\n" if text else "# Benchmarks\n\n") + generated + "\n"
    path.write_text(text, encoding="utf-8")
