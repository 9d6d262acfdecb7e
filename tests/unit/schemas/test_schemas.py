"""Every contract in schemas/ has a valid example, and the request schema refuses what
MISSION.md says it must (criteria of another unit type, bad hashes, unknown fields)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common import schemas

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "schemas" / "examples"

def _latest() -> list[Path]:
    """The newest version of each schema: its example is of that version."""
    newest: dict[str, Path] = {}
    for path in sorted((ROOT / "schemas").rglob("*.v*.json")):
        name, _, version = path.name.removesuffix(".json").rpartition(".v")
        held = newest.get(name)
        if held is None or int(version) > int(held.name.removesuffix(".json").rpartition(".v")[2]):
            newest[name] = path
    return sorted(newest.values())


SCHEMA_FILES = _latest()


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_every_schema_has_a_valid_example(path: Path) -> None:
    name = path.name.removesuffix(".json").rpartition(".v")[0]
    instance = example("submission-accepted") if name == "envelope" else example(name)
    assert schemas.errors(path.name.removesuffix(".json"), instance) == []


def test_a_version_1_accepted_submission_is_still_read() -> None:
    """Version 2 added the movement; events written before it stay valid as version 1,
    and version 2 refuses an event without one."""
    old = example("submission-accepted")
    old["data"].pop("movement")
    assert schemas.errors("submission-accepted.v2", old)
    old["dataschema"] = "urn:emulation:schema:submission-accepted:v1"
    assert schemas.errors("submission-accepted.v1", old) == []


def test_the_contract_example_is_a_top_level_request() -> None:
    req = example("submission-request")
    assert req["unit_id"] == "province:quang-ninh" and req["period"] == 2026


def _errors(body: dict[str, Any]) -> list[str]:
    return [e.field for e in schemas.errors("submission-request.v1", body)]


def test_a_province_answering_the_ministries_criteria_is_refused() -> None:
    body = example("submission-request")
    body["self_assessment"] = {c: {"rating": 5} for c in ("M1", "M2", "M3", "M4")}
    fields = _errors(body)
    assert fields and all(f.startswith("self_assessment") for f in fields)


def test_a_ministry_answering_its_own_criteria_is_accepted() -> None:
    body = example("submission-request")
    body["unit_id"] = "ministry:public-security"
    body["self_assessment"] = {c: {"rating": 5} for c in ("M1", "M2", "M3", "M4")}
    assert _errors(body) == []


@pytest.mark.parametrize("mutate, field", [
    (lambda b: b["contents"]["implement_directives"]["evidence"][0].update(sha256="ABC"),
     "contents/implement_directives/evidence/0/sha256"),
    (lambda b: b.update(period="2026"), "period"),
    (lambda b: b.update(unit_id="Province:Quang Ninh"), "unit_id"),
    (lambda b: b.update(extra=1), "(root)"),
    (lambda b: b["self_assessment"]["P1"].update(rating=11), "self_assessment/P1/rating"),
    (lambda b: b["contents"].update(unknown_content={"summary": "x"}), "contents"),
    (lambda b: b["contents"]["propaganda"]["indicators"].update(people_reached=-1),
     "contents/propaganda/indicators/people_reached"),
])
def test_bad_fields_are_named(mutate: Any, field: str) -> None:
    body = copy.deepcopy(example("submission-request"))
    mutate(body)
    assert field in _errors(body)


_DROP = object()


def _mutations(root: Any) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, mutated copy of `root`) for every field: removed, null, a number, a long
    string, a malformed date, empty containers, for strings a trailing newline, an
    upper-cased or empty copy, and for objects an extra member."""
    def at(path: tuple[Any, ...], value: Any) -> Any:
        out = copy.deepcopy(root)
        target = out
        for p in path[:-1]:
            target = target[p]
        if value is _DROP:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return out

    def walk(doc: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
        if path:
            variants = [None, 12345, "x" * 5000, "2026-13-45T99:00:00Z", [], {}]
            if not isinstance(path[-1], int):
                variants.append(_DROP)
            if isinstance(doc, str):
                variants += [doc + "\n", doc.upper(), ""]
            if isinstance(doc, dict):
                variants.append({**doc, "unexpected": 1})
            for value in variants:
                yield path, at(path, value)
        if isinstance(doc, dict):
            for k, v in doc.items():
                yield from walk(v, (*path, k))
        elif isinstance(doc, list):
            for i, v in enumerate(doc[:2]):
                yield from walk(v, (*path, i))

    yield from walk(root, ())


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_the_fast_validator_never_accepts_what_the_authority_refuses(path: Path) -> None:
    name = path.name.removesuffix(".json").rpartition(".v")[0]
    instance = example("submission-accepted") if name == "envelope" else example(name)
    checked = refused = 0
    for where, mutated in _mutations(instance):
        slow = schemas.slow_errors(path.name.removesuffix(".json"), mutated)
        fast = schemas.fast_valid(path.name.removesuffix(".json"), mutated)
        checked += 1
        if slow:
            refused += 1
            assert not fast, f"{where}: fast path accepts what jsonschema refuses: {slow[:2]}"
            assert schemas.errors(path.name.removesuffix(".json"), mutated) == slow
    assert checked > 20 and refused > 5  # the mutations do reach the schema's rules


def test_values_with_no_json_form_go_to_the_slow_path() -> None:
    body = example("submission-request")
    body["period"] = object()
    assert not schemas.fast_valid("submission-request.v1", body)
    assert [e.field for e in schemas.errors("submission-request.v1", body)] == ["period"]
