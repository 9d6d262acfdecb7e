"""Every number of the scoring says where it comes from: each rubric parameter carries a
source (the loader refuses one without), and docs/sources.md is exactly what the rubrics
and the table of code rules generate."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from services.common import movements
from services.common.settings import REPO_ROOT
from services.scoring.provenance import (
    CODE_RULES,
    DEFAULT_LABEL,
    describe,
    render_markdown,
    value_of,
)
from services.scoring.rubrics import RUBRICS_DIR, RubricError, load_rubrics, parse_rubric


def raw(version: str = "province-2026.1") -> dict[str, Any]:
    return yaml.safe_load((RUBRICS_DIR / f"{version}.yaml").read_text(encoding="utf-8"))


def numeric_paths(doc: dict[str, Any]) -> set[str]:
    """Every parameter of a raw rubric that carries a number, found by walking it."""
    out = {"max_total"}
    for cid, cr in doc["criteria"].items():
        out |= {f"criteria.{cid}.max_points", f"criteria.{cid}.self_rating_weight"}
        out |= {f"criteria.{cid}.indicators.{i['content']}.{i['name']}"
                for i in cr["indicators"]}
    for section in ("contents", "bonus", "deductions"):
        for key, value in doc[section].items():
            if isinstance(value, dict):
                out |= {f"{section}.{key}.{sub}" for sub in value}
            elif isinstance(value, int | float):
                out.add(f"{section}.{key}")
    return out


@pytest.mark.parametrize("path", sorted(RUBRICS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_rubric_parameter_has_a_source(path: Any) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    rubric = parse_rubric(doc, path.name)
    assert set(rubric.sources) == numeric_paths(doc)
    assert all(describe(s) for s in rubric.sources.values())
    assert all(c.basis for c in rubric.criteria)
    for p in rubric.sources:
        assert value_of(rubric, p)


@pytest.mark.parametrize("mutate", [
    lambda r: r.pop("source"),
    lambda r: r["criteria"]["P1"].pop("source"),
    lambda r: r["criteria"]["P3"].pop("basis"),
    lambda r: r["contents"].pop("source"),
    lambda r: r["bonus"].pop("source"),
    lambda r: r["deductions"].pop("source"),
    lambda r: r["deductions"].update(source={"law": "Nghị định", "quote": "x"}),
], ids=["root", "criterion", "basis", "contents", "bonus", "deductions", "bad-law"])
def test_a_rubric_parameter_without_a_source_is_refused(mutate: Any) -> None:
    doc = copy.deepcopy(raw())
    mutate(doc)
    with pytest.raises(RubricError):
        parse_rubric(doc, "province-2026.1.yaml")


def test_an_indicator_may_state_its_own_source() -> None:
    doc = copy.deepcopy(raw())
    quote = {"seed": "000", "quote": "Xây dựng, nhân rộng các mô hình bảo đảm an ninh"}
    doc["criteria"]["P3"]["indicators"][0]["source"] = quote
    rubric = parse_rubric(doc, "province-2026.1.yaml")
    assert rubric.sources["criteria.P3.indicators.movement_quality.models_replicated"] == quote
    assert rubric.sources["criteria.P3.max_points"] == "platform-default"


def test_docs_sources_is_generated_from_the_rubrics_and_the_code_rules() -> None:
    page = (REPO_ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    assert page == render_markdown(load_rubrics()), (
        "docs/sources.md is stale: python -m services.scoring.provenance > docs/sources.md")
    for rubric in load_rubrics().versions():
        for path in rubric.sources:
            assert f"| `{path}` |" in page


def test_no_unchecked_legal_citation_is_made() -> None:
    """No decree is cited anywhere a rule is stated: none can be checked in the seeds."""
    page = render_markdown(load_rubrics())
    assert "Nghị định" not in page and "Decree" not in page
    for rule in CODE_RULES:
        assert DEFAULT_LABEL in rule.source or rule.source.startswith("seed ")
    for name in ("standings.py",):
        assert "Decree" not in (REPO_ROOT / "services" / "scoring" / name).read_text()
    assert "Decree" not in (REPO_ROOT / "docs" / "scoring.md").read_text()


def test_the_configured_rules_listed_are_the_defaults_files() -> None:
    """The rows of docs/sources.md that quote configuration say what the files hold."""
    defaults = yaml.safe_load((REPO_ROOT / "services" / "notifications" /
                               "campaign_defaults.yaml").read_text(encoding="utf-8"))
    rules = {r.name: r.value for r in CODE_RULES}
    assert defaults["deadline"] == {"month": 11, "day": 30, "time": "23:59:59"}
    assert rules["The units' reporting deadline, toan-dan"].startswith("30/11 23:59:59")
    assert rules["The units' reporting deadline, vi-an-ninh (police units)"].startswith(
        "26/11 23:59:59")
    assert {m: mv.deadline for m, mv in movements.MOVEMENTS.items()} == {
        "toan-dan": (11, 30), "vi-an-ninh": (11, 26)}
    assert [s["days"] for s in defaults["stages"]] == [-30, -14, -7, -3, -1, 0, 1, 3]
    assert defaults["quiet_hours"] == {"start": "21:00", "end": "07:00"}
    assert defaults["catch_up_hours"] == 72
    alerts = (REPO_ROOT / "deploy" / "prometheus" / "rules" / "emulation.yml").read_text()
    assert ") < 0.9" in alerts and "< 7 * 86400" in alerts
