"""The rubric files (`rubrics/<version>.yaml`): loaded, validated against
`rubrics/rubric.schema.json` and checked for their arithmetic and for the source of
every number (the plan gives none of the points: most are the platform's defaults, and
they must say so), then looked up by version or by the unit type and period they apply
to."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from services.common import schemas
from services.scoring.domain import (
    CONTENTS,
    Bonus,
    ContentsRule,
    Criterion,
    Deductions,
    Indicator,
    Rubric,
    Source,
    Threshold,
)

RUBRICS_DIR = Path(__file__).with_name("rubrics")
SCHEMA_FILE = RUBRICS_DIR / "rubric.schema.json"
EPSILON = 1e-9
PLATFORM_DEFAULT = "platform-default"


class RubricError(ValueError):
    """A rubric file is invalid; the message names the file and the field."""


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def criteria_ids(unit_type: str) -> list[str]:
    """The criterion ids a unit type answers, from the request contract itself
    (`schemas/requests/submission-request.v1.json`, `$defs/criteria_<type>`)."""
    request = schemas.validator("submission-request.v1").schema
    if not isinstance(request, Mapping):
        raise RubricError("the submission request schema is not an object")
    return list(request["$defs"][f"criteria_{unit_type}"]["properties"])


def parse_rubric(raw: Any, where: str) -> Rubric:
    """Validate one rubric document (schema, then arithmetic) and build it."""
    found = sorted(_validator().iter_errors(raw), key=lambda e: list(e.absolute_path))
    if found:
        details = "; ".join(
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in found[:5])
        raise RubricError(f"{where}: {details}")
    version, unit_type = raw["version"], raw["unit_type"]
    if not version.startswith(f"{unit_type}-"):
        raise RubricError(f"{where}: version {version!r} must start with {unit_type!r}-")
    expected = criteria_ids(unit_type)
    if sorted(raw["criteria"]) != sorted(expected):
        raise RubricError(f"{where}: criteria {sorted(raw['criteria'])} differ from the "
                          f"{unit_type} criteria of the request schema {expected}")
    criteria = tuple(_criterion(cid, raw["criteria"][cid], where) for cid in expected)
    c = raw["contents"]
    if abs(c["reported_share"] + c["evidence_share"] - 1) > EPSILON:
        raise RubricError(f"{where}: contents reported_share + evidence_share must be 1")
    if sum(c["weights"].values()) <= 0:
        raise RubricError(f"{where}: contents weights must not all be 0")
    contents = ContentsRule(max_points=float(c["max_points"]),
                            weights={n: float(c["weights"][n]) for n in CONTENTS},
                            reported_share=float(c["reported_share"]),
                            evidence_share=float(c["evidence_share"]))
    bonus = Bonus(cap=float(raw["bonus"]["cap"]),
                  flags={f: float(p) for f, p in raw["bonus"]["flags"].items()})
    d = raw["deductions"]
    deductions = Deductions(cap=float(d["cap"]), late=float(d["late"]),
                            missing_content=float(d["missing_content"]),
                            no_evidence=float(d["no_evidence"]))
    sources = parameter_sources(raw, where)
    one_criterion = bool(raw.get("one_criterion", False))
    criteria_max = (max(cr.max_points for cr in criteria) if one_criterion
                    else sum(cr.max_points for cr in criteria))
    stated = criteria_max + contents.max_points + bonus.cap
    if abs(stated - raw["max_total"]) > EPSILON:
        which = "the largest criterion" if one_criterion else "criteria"
        raise RubricError(f"{where}: {which} + contents + bonus cap = {stated:g}, "
                          f"but max_total is {raw['max_total']:g}")
    return Rubric(version=version, unit_type=unit_type, from_period=raw["from_period"],
                  title=raw["title"], description=raw.get("description", ""),
                  max_total=float(raw["max_total"]), criteria=criteria, contents=contents,
                  bonus=bonus, deductions=deductions, sources=sources,
                  one_criterion=one_criterion)


def parameter_sources(raw: dict[str, Any], where: str) -> dict[str, Source]:
    """Every parameter of the rubric that carries a number, with its source: its own
    `source`, else its section's (an indicator inherits its criterion's). A parameter
    without one is refused: nobody should take the platform's numbers for the plan's."""
    out: dict[str, Source] = {}

    def need(path: str, *candidates: Any) -> None:
        found = next((c for c in candidates if c is not None), None)
        if found is None:
            raise RubricError(f"{where}: {path} has no source (a seed line, a legal text, "
                              f"or {PLATFORM_DEFAULT!r}; docs/sources.md)")
        out[path] = found

    need("max_total", raw.get("source"))
    for cid, cr in raw["criteria"].items():
        for key in ("max_points", "self_rating_weight"):
            need(f"criteria.{cid}.{key}", cr.get("source"))
        for ind in cr["indicators"]:
            need(f"criteria.{cid}.indicators.{ind['content']}.{ind['name']}",
                 ind.get("source"), cr.get("source"))
    for section in ("contents", "bonus", "deductions"):
        body = raw[section]
        for key, value in body.items():
            if key == "source":
                continue
            if isinstance(value, dict):
                for sub in value:
                    need(f"{section}.{key}.{sub}", body.get("source"))
            else:
                need(f"{section}.{key}", body.get("source"))
    return out


def _criterion(cid: str, raw: dict[str, Any], where: str) -> Criterion:
    at = f"{where} criterion {cid}"
    indicators = []
    for n, ind in enumerate(raw["indicators"]):
        steps = [t["at_least"] for t in ind["thresholds"]]
        shares = [t["share"] for t in ind["thresholds"]]
        if any(b <= a for a, b in pairwise(steps)) or any(b < a for a, b in pairwise(shares)):
            raise RubricError(f"{at} indicator {n}: thresholds must rise (at_least strictly, "
                              "share never falling)")
        indicators.append(Indicator(
            content=ind["content"], name=ind["name"], weight=float(ind["weight"]),
            thresholds=tuple(Threshold(float(t["at_least"]), float(t["share"]))
                             for t in ind["thresholds"])))
    weights = raw["self_rating_weight"] + sum(i.weight for i in indicators)
    if abs(weights - 1) > EPSILON:
        raise RubricError(f"{at}: self_rating_weight + indicator weights = {weights:g}, "
                          "must be 1")
    return Criterion(id=cid, title=raw["title"], max_points=float(raw["max_points"]),
                     self_rating_weight=float(raw["self_rating_weight"]),
                     indicators=tuple(indicators), basis=raw["basis"]["quote"])


class RubricBook:
    """Every rubric, by version; answers which one is in force for a type and period."""

    def __init__(self, rubrics: Iterable[Rubric]) -> None:
        self._by_version: dict[str, Rubric] = {}
        starts: dict[tuple[str, int], str] = {}
        for r in rubrics:
            if r.version in self._by_version:
                raise RubricError(f"duplicate rubric version {r.version!r}")
            clash = starts.get((r.unit_type, r.from_period))
            if clash:
                # Two rubrics starting the same period would make "in force" ambiguous.
                raise RubricError(f"{r.version} and {clash} both start in {r.from_period} "
                                  f"for {r.unit_type}")
            starts[(r.unit_type, r.from_period)] = r.version
            self._by_version[r.version] = r

    def versions(self) -> list[Rubric]:
        return sorted(self._by_version.values(), key=lambda r: (r.unit_type, r.from_period))

    def get(self, version: str) -> Rubric | None:
        return self._by_version.get(version)

    def in_force(self, unit_type: str, period: int) -> Rubric | None:
        """The latest rubric of the type whose from_period is not after the period."""
        fitting = [r for r in self._by_version.values()
                   if r.unit_type == unit_type and r.from_period <= period]
        return max(fitting, key=lambda r: r.from_period) if fitting else None


def load_rubrics(directory: Path | None = None) -> RubricBook:
    """Every `*.yaml` of the directory; the file name must be the version."""
    root = directory or RUBRICS_DIR
    rubrics = []
    for path in sorted(root.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise RubricError(f"{path.name}: not valid YAML: {exc}") from exc
        rubric = parse_rubric(raw, path.name)
        if path.stem != rubric.version:
            raise RubricError(f"{path.name}: the file must be named {rubric.version}.yaml")
        rubrics.append(rubric)
    if not rubrics:
        raise RubricError(f"no rubric files in {root}")
    return RubricBook(rubrics)
