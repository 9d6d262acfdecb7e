"""Scoring rules as plain functions over plain data (the foundation's simple rubric;
rubrics as versioned data files replace it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RUBRIC_VERSION = "foundation-1"
CONTENTS = ("implement_directives", "local_government", "movement_quality",
            "science_technology", "security_forces", "propaganda")
CRITERIA_SHARE = 80.0
CONTENTS_SHARE = 20.0
LATE_DEDUCTION = 5.0


@dataclass(frozen=True)
class Line:
    criterion: str
    points: float
    max_points: float
    explanation: str


@dataclass(frozen=True)
class Score:
    total: float
    max: float
    rubric_version: str
    breakdown: list[Line] = field(default_factory=list)

    def breakdown_dicts(self) -> list[dict[str, Any]]:
        return [vars(line) for line in self.breakdown]


def score_submission(content: dict[str, Any], on_time: bool) -> Score:
    """Self-assessment ratings scale the criteria's share; documented contents with
    evidence fill the contents' share; a late report loses a fixed deduction."""
    assessment: dict[str, Any] = content.get("self_assessment", {})
    lines: list[Line] = []
    per_criterion = CRITERIA_SHARE / max(1, len(assessment))
    for criterion in sorted(assessment):
        rating = int(assessment[criterion].get("rating", 0))
        points = round(per_criterion * rating / 10, 2)
        lines.append(Line(criterion, points, round(per_criterion, 2),
                          f"self-assessed {rating}/10"))
    contents = content.get("contents", {})
    per_content = CONTENTS_SHARE / len(CONTENTS)
    for name in CONTENTS:
        item = contents.get(name)
        if item is None:
            lines.append(Line(f"content:{name}", 0.0, round(per_content, 2), "not reported"))
            continue
        evidenced = bool(item.get("evidence"))
        points = per_content if evidenced else per_content / 2
        lines.append(Line(f"content:{name}", round(points, 2), round(per_content, 2),
                          "reported with evidence" if evidenced else "reported, no evidence"))
    if not on_time:
        lines.append(Line("deduction:late", -LATE_DEDUCTION, 0.0, "submitted after the deadline"))
    total = round(max(0.0, sum(line.points for line in lines)), 2)
    return Score(total=total, max=CRITERIA_SHARE + CONTENTS_SHARE,
                 rubric_version=RUBRIC_VERSION, breakdown=lines)
