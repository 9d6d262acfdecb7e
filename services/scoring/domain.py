"""Scoring rules as plain functions over plain data: a rubric (loaded from
`rubrics/*.yaml` by `rubrics.py`) turns one submission into points, line by line, and
the lines always add up to the total (docs/scoring.md has a worked example)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.common.contracts import CriterionScore, SubmissionAcceptedV1
from services.common.errors import Refusal, Refused

# Where a rubric's number comes from: "platform-default", or a quote of the line that
# gives it ({"seed", "quote"} or {"law", "quote", "checked_in"}; docs/sources.md).
Source = str | dict[str, str]
# The six emulation contents of the plan, in the plan's order (MISSION.md).
CONTENTS = ("implement_directives", "local_government", "movement_quality",
            "science_technology", "security_forces", "propaganda")


@dataclass(frozen=True)
class Threshold:
    at_least: float
    share: float


@dataclass(frozen=True)
class Indicator:
    """A number a content reports (`contents.<content>.indicators.<name>`), weighed
    within its criterion and paid by thresholds."""
    content: str
    name: str
    weight: float
    thresholds: tuple[Threshold, ...]

    def share_for(self, value: float | None) -> tuple[float, Threshold | None]:
        """The share of the highest threshold `value` reaches (0 below the first)."""
        reached = None
        if value is not None:
            for t in self.thresholds:
                if value >= t.at_least:
                    reached = t
        return (reached.share if reached else 0.0), reached


@dataclass(frozen=True)
class Criterion:
    id: str
    title: str
    max_points: float
    self_rating_weight: float
    indicators: tuple[Indicator, ...]
    basis: str = ""  # the plan's line the criterion measures (seed 000, in Vietnamese)


@dataclass(frozen=True)
class ContentsRule:
    max_points: float
    weights: Mapping[str, float]
    reported_share: float
    evidence_share: float


@dataclass(frozen=True)
class Bonus:
    cap: float
    flags: Mapping[str, float]


@dataclass(frozen=True)
class Deductions:
    cap: float
    late: float
    missing_content: float
    no_evidence: float


@dataclass(frozen=True)
class Rubric:
    version: str
    unit_type: str
    from_period: int
    title: str
    max_total: float
    criteria: tuple[Criterion, ...]
    contents: ContentsRule
    bonus: Bonus
    deductions: Deductions
    description: str = ""
    # The criteria are alternatives: a report answers exactly one (individuals: person
    # group 5a, I1, or 5b, I2), scored alone; max_total counts the largest.
    one_criterion: bool = False
    # parameter path (e.g. "criteria.P1.max_points") -> where its number comes from:
    # "platform-default", {"seed", "quote"} or {"law", "quote"} (docs/sources.md).
    sources: Mapping[str, Source] = field(default_factory=dict)


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

    def breakdown_dicts(self) -> list[CriterionScore]:
        # A Line holds only plain values: its fields as they are (asdict deep-copies,
        # a tenth of a consumer's CPU per record).
        return [{"criterion": line.criterion, "points": line.points,
                 "max_points": line.max_points, "explanation": line.explanation}
                for line in self.breakdown]


def _pct(x: float) -> str:
    return f"{x * 100:g}%"


def _num(x: float) -> str:
    return f"{x:g}"


def apportion(total: float, weights: Sequence[float]) -> list[float]:
    """Split `total` by `weights` into amounts of whole hundredths that add up to
    `total` exactly (largest remainder), so rounded lines never exceed their maximum."""
    cents = round(total * 100)
    wsum = sum(weights)
    if wsum <= 0:
        return [0.0 for _ in weights]
    raw = [cents * w / wsum for w in weights]
    floors = [int(r) for r in raw]
    left = cents - sum(floors)
    by_remainder = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
    for i in by_remainder[:left]:
        floors[i] += 1
    return [f / 100 for f in floors]


def score_criterion(criterion: Criterion, rating: int | None,
                    contents: Mapping[str, Any]) -> Line:
    """max_points x (self-rating weight x rating/10 + sum of indicator weight x share)."""
    parts: list[str] = []
    if rating is None:
        fraction = 0.0
        parts.append(f"not self-assessed: 0 of {_pct(criterion.self_rating_weight)}")
    else:
        fraction = criterion.self_rating_weight * rating / 10
        parts.append(f"self-rated {rating}/10: {_pct(criterion.self_rating_weight)} x "
                     f"{rating}/10 = {_pct(round(fraction, 6))}")
    for ind in criterion.indicators:
        item = contents.get(ind.content) or {}
        value = (item.get("indicators") or {}).get(ind.name)
        share, reached = ind.share_for(value)
        fraction += ind.weight * share
        where = f"{ind.content}.{ind.name}"
        if value is None:
            parts.append(f"{where} not reported: 0 of {_pct(ind.weight)}")
        elif reached is None:
            parts.append(f"{where} = {_num(value)} (below {_num(ind.thresholds[0].at_least)}): "
                         f"0 of {_pct(ind.weight)}")
        else:
            parts.append(f"{where} = {_num(value)} (>= {_num(reached.at_least)}: "
                         f"{_pct(share)}) x {_pct(ind.weight)} = "
                         f"{_pct(round(ind.weight * share, 6))}")
    points = round(criterion.max_points * fraction, 2)
    parts.append(f"{_pct(round(fraction, 6))} of {_num(criterion.max_points)} = {points:.2f}")
    return Line(criterion.id, points, criterion.max_points, "; ".join(parts))


def score_contents(rule: ContentsRule, contents: Mapping[str, Any]) -> list[Line]:
    """Each of the six contents: its weight's part of the contents' points, a share for
    reporting it and a share for evidence."""
    maxima = apportion(rule.max_points, [rule.weights[name] for name in CONTENTS])
    lines = []
    for name, max_points in zip(CONTENTS, maxima, strict=True):
        item = contents.get(name)
        if item is None:
            lines.append(Line(f"content:{name}", 0.0, max_points, "not reported"))
            continue
        evidence = len(item.get("evidence") or [])
        share = rule.reported_share + (rule.evidence_share if evidence else 0.0)
        points = round(max_points * share, 2)
        how = (f"reported ({_pct(rule.reported_share)}) with {evidence} evidence "
               f"document{'s' if evidence != 1 else ''} ({_pct(rule.evidence_share)})"
               if evidence else
               f"reported ({_pct(rule.reported_share)}), no evidence "
               f"(0 of {_pct(rule.evidence_share)})")
        lines.append(Line(f"content:{name}", points, max_points,
                          f"{how}: {_pct(share)} of {_num(max_points)} = {points:.2f}"))
    return lines


def score_bonus(rule: Bonus, flags_held: Sequence[str]) -> Line:
    held = [(f, rule.flags.get(f, 0.0)) for f in sorted(set(flags_held))]
    raw = sum(p for _, p in held)
    points = round(min(rule.cap, raw), 2)
    if not held:
        why = "no emulation flag held"
    else:
        why = ", ".join(f"{f} +{_num(p)}" for f, p in held)
        if raw > rule.cap:
            why += f" = {_num(raw)}, capped at {_num(rule.cap)}"
    return Line("bonus:flags", points, rule.cap, why)


def score_deductions(rule: Deductions, contents: Mapping[str, Any], on_time: bool
                     ) -> list[Line]:
    """Late report, then missing contents, then contents without evidence, each taken
    from what the cap still allows, so the lines show the capped amounts."""
    missing = [n for n in CONTENTS if n not in contents]
    unproven = [n for n in CONTENTS if n in contents and not contents[n].get("evidence")]
    wanted = [
        ("deduction:late", 0.0 if on_time else rule.late,
         "on time" if on_time else f"first report after the deadline: -{_num(rule.late)}"),
        ("deduction:missing_content", rule.missing_content * len(missing),
         f"{len(missing)} of 6 contents not reported"
         + (f" ({', '.join(missing)}): {len(missing)} x -{_num(rule.missing_content)}"
            if missing else "")),
        ("deduction:no_evidence", rule.no_evidence * len(unproven),
         f"{len(unproven)} reported content{'s' if len(unproven) != 1 else ''} without "
         "evidence" + (f" ({', '.join(unproven)}): {len(unproven)} x "
                       f"-{_num(rule.no_evidence)}" if unproven else "")),
    ]
    left = rule.cap
    lines = []
    for name, amount, why in wanted:
        taken = min(amount, left)
        left -= taken
        if taken < amount:
            why += f"; limited to {_num(taken)} by the cap of {_num(rule.cap)} on deductions"
        lines.append(Line(name, round(-taken, 2) + 0.0, 0.0, why))
    return lines


def criteria_answered(rubric: Rubric, assessment: Mapping[str, Any]) -> tuple[Criterion, ...]:
    """The criteria a report is scored on: all of the rubric's, or, when they are
    alternatives, the one it answers (ValueError if it answers none or several)."""
    if not rubric.one_criterion:
        return rubric.criteria
    answered = tuple(c for c in rubric.criteria if c.id in assessment)
    if len(answered) != 1:
        raise ValueError(f"{rubric.version}: a report answers exactly one of "
                         f"{', '.join(c.id for c in rubric.criteria)}, this one "
                         f"{len(answered)}")
    return answered


def score_submission(rubric: Rubric, content: Mapping[str, Any], on_time: bool) -> Score:
    """The submission's score under `rubric`: criteria, contents, bonus, deductions."""
    assessment: Mapping[str, Any] = content.get("self_assessment") or {}
    contents: Mapping[str, Any] = content.get("contents") or {}
    lines: list[Line] = []
    for criterion in criteria_answered(rubric, assessment):
        given = assessment.get(criterion.id)
        rating = int(given["rating"]) if isinstance(given, Mapping) and "rating" in given \
            else None
        lines.append(score_criterion(criterion, rating, contents))
    lines.extend(score_contents(rubric.contents, contents))
    lines.append(score_bonus(rubric.bonus, content.get("flags_held") or []))
    lines.extend(score_deductions(rubric.deductions, contents, on_time))
    subtotal = round(sum(line.points for line in lines), 2)
    if subtotal < 0:
        # The total never goes below zero; the line says so, so the lines still add up.
        lines.append(Line("adjustment:floor", -subtotal, 0.0, "a total below 0 counts as 0"))
    total = round(sum(line.points for line in lines), 2) + 0.0
    return Score(total=total, max=rubric.max_total, rubric_version=rubric.version,
                 breakdown=lines)


# -- rescores ----------------------------------------------------------------------------

class RescoreRefused(Refused):
    """A rescore that cannot run (unknown or inapplicable rubric, one already running)."""


def check_rescore(rubric: Rubric | None, version: str, period: int) -> Rubric:
    """The rubric a rescore of `period` under `version` scores with (`rubric`: the one
    loaded under that version); refused if there is none or it applies only later."""
    if rubric is None:
        raise RescoreRefused(Refusal.INVALID, "unknown-rubric", f"no rubric version {version!r}")
    if rubric.from_period > period:
        raise RescoreRefused(Refusal.INVALID, "rubric-not-applicable",
                             f"{version} applies from {rubric.from_period}, after {period}")
    return rubric


def rescore_running() -> RescoreRefused:
    """The refusal of a rescore while another one runs."""
    return RescoreRefused(Refusal.CONFLICT, "rescore-running", "a rescore is already running")


# -- replays ------------------------------------------------------------------------------

def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def earliest(*values: Any) -> str | None:
    """The earliest of some ISO times (or None), as ISO text in UTC."""
    times = [t for t in (parse_time(v) for v in values) if t is not None]
    return min(times).astimezone(UTC).isoformat() if times else None


@dataclass(frozen=True)
class Latest:
    data: SubmissionAcceptedV1
    first_received_at: str | None


def latest_revisions(submissions: Sequence[SubmissionAcceptedV1]) -> dict[str, Latest]:
    """unit id -> its highest revision's data, and when its first revision arrived
    (what a rescore scores: the revision in force, with its tie-break time)."""
    best: dict[str, SubmissionAcceptedV1] = {}
    first: dict[str, str | None] = {}
    for data in submissions:
        unit = data["unit_id"]
        if unit not in best or data["revision"] > best[unit]["revision"]:
            best[unit] = data.copy()
        first[unit] = earliest(first.get(unit), data.get("received_at"))
    return {u: Latest(best[u], first[u]) for u in sorted(best)}
