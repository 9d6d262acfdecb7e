"""Rubric files: every file in the repository loads and validates; the loader refuses
what would make scores wrong or ambiguous; the rubric in force is chosen by period."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from services.scoring.rubrics import (
    RUBRICS_DIR,
    SCHEMA_FILE,
    RubricBook,
    RubricError,
    criteria_ids,
    load_rubrics,
    parse_rubric,
)
from tests.checks import present

UNIT_TYPES = ("ministry", "province", "police", "front", "organization", "individual")


def raw(version: str = "police-2026.1") -> dict[str, Any]:
    return yaml.safe_load((RUBRICS_DIR / f"{version}.yaml").read_text(encoding="utf-8"))


def test_the_rubric_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", sorted(RUBRICS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_rubric_file_is_valid(path: Path) -> None:
    rubric = parse_rubric(yaml.safe_load(path.read_text(encoding="utf-8")), path.name)
    assert path.stem == rubric.version
    assert [c.id for c in rubric.criteria] == criteria_ids(rubric.unit_type)
    points = [c.max_points for c in rubric.criteria]
    # Alternatives (one_criterion): a report is scored on one criterion, at most the largest.
    criteria_max = max(points) if rubric.one_criterion else sum(points)
    stated = criteria_max + rubric.contents.max_points + rubric.bonus.cap
    assert stated == pytest.approx(rubric.max_total)


def test_every_unit_type_has_a_rubric_for_every_period() -> None:
    book = load_rubrics()
    for unit_type in UNIT_TYPES:
        for period in (2000, 2024, 2025, 2026, 2031, 2100):
            assert book.in_force(unit_type, period) is not None, (unit_type, period)


def test_criteria_follow_the_request_contract() -> None:
    assert criteria_ids("ministry") == ["M1", "M2", "M3", "M4"]
    assert criteria_ids("police") == criteria_ids("province") == ["P1", "P2", "P3", "P4"]
    assert criteria_ids("front") == ["F1", "F2", "F3", "F4"]
    assert criteria_ids("organization") == ["O1", "O2"]
    assert criteria_ids("individual") == ["I1", "I2"]


def test_the_rubric_in_force_is_the_latest_that_started() -> None:
    book = load_rubrics()
    assert present(book.in_force("police", 2025)).version == "police-2024.1"
    assert present(book.in_force("police", 2026)).version == "police-2026.1"
    assert present(book.in_force("police", 2031)).version == "police-2026.1"
    assert present(book.in_force("province", 2026)).version == "province-2026.1"
    assert present(book.in_force("ministry", 2031)).version == "ministry-2024.1"
    assert book.in_force("police", 1999) is None


def _broken(mutate: Any) -> str:
    doc = copy.deepcopy(raw())
    mutate(doc)
    with pytest.raises(RubricError) as err:
        parse_rubric(doc, "test.yaml")
    return str(err.value)


@pytest.mark.parametrize("mutate, says", [
    (lambda d: d.pop("deductions"), "deductions"),
    (lambda d: d.update(version="Police 2026"), "version"),
    (lambda d: d.update(unit_type="army"), "unit_type"),
    (lambda d: d["criteria"]["P1"].update(max_points=-1), "criteria/P1/max_points"),
    (lambda d: d["criteria"]["P1"]["indicators"][0].update(content="sports"),
     "criteria/P1/indicators/0/content"),
    (lambda d: d["contents"]["weights"].pop("propaganda"), "contents/weights"),
    (lambda d: d["bonus"]["flags"].update(gold_medal=3), "bonus/flags"),
    (lambda d: d.update(extra=1), "(root)"),
])
def test_the_schema_names_the_wrong_field(mutate: Any, says: str) -> None:
    assert says in _broken(mutate)


@pytest.mark.parametrize("mutate, says", [
    (lambda d: d.update(version="province-2026.9"), "must start with 'police'-"),
    (lambda d: d["criteria"].pop("P4"), "differ from the police criteria"),
    (lambda d: d["criteria"].update(M1=d["criteria"]["P1"]), "differ from the police"),
    (lambda d: d["criteria"]["P1"].update(self_rating_weight=0.5), "must be 1"),
    (lambda d: d["criteria"]["P1"]["indicators"][0]["thresholds"].reverse(), "must rise"),
    (lambda d: d["contents"].update(evidence_share=0.5), "reported_share + evidence_share"),
    (lambda d: d.update(max_total=120), "max_total is 120"),
])
def test_the_arithmetic_is_checked(mutate: Any, says: str) -> None:
    assert says in _broken(mutate)


def test_a_file_must_be_named_after_its_version(tmp_path: Path) -> None:
    (tmp_path / "police-2030.1.yaml").write_text(yaml.safe_dump(raw()), encoding="utf-8")
    with pytest.raises(RubricError, match=r"must be named police-2026\.1\.yaml"):
        load_rubrics(tmp_path)


def test_two_rubrics_may_not_start_the_same_period(tmp_path: Path) -> None:
    other = raw()
    other["version"] = "police-2026.2"
    for doc in (raw(), other):
        (tmp_path / f"{doc['version']}.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(RubricError, match="both start in 2026"):
        load_rubrics(tmp_path)


def test_invalid_yaml_and_empty_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="no rubric files"):
        load_rubrics(tmp_path)
    (tmp_path / "police-2026.1.yaml").write_text("version: [", encoding="utf-8")
    with pytest.raises(RubricError, match="not valid YAML"):
        load_rubrics(tmp_path)


def test_a_book_refuses_duplicate_versions() -> None:
    rubric = parse_rubric(raw(), "x")
    with pytest.raises(RubricError, match="duplicate"):
        RubricBook([rubric, rubric])
