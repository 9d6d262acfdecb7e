"""The event contract's compatibility check (devstack/schema_compat.py): the committed
schemas against their baseline in schemas/compat/, and the checker on small examples of
each breaking kind and of changes it must let through."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from devstack import schema_compat
from devstack.schema_compat import breaking_changes, compare

BASE: dict[str, Any] = {
    "type": "object",
    "required": ["unit_id"],
    "properties": {
        "unit_id": {"type": "string", "maxLength": 120},
        "period": {"type": "integer", "minimum": 2000},
        "stage": {"enum": ["first", "second"]},
        "total": {"type": "number"},
        "notes": {"type": ["string", "null"]},
        "items": {"type": "array", "items": {"type": "object",
                                             "properties": {"id": {"type": "string"}}}},
    },
}


def changed(edit: Any) -> list[str]:
    new = copy.deepcopy(BASE)
    edit(new)
    return list(breaking_changes(BASE, new))


def test_the_committed_schemas_match_their_baseline() -> None:
    broken, stale = compare(schema_compat.versioned_schemas(), schema_compat.load_baseline())
    assert broken == [], "\n".join(broken)
    assert stale == [], f"run python -m devstack.schema_compat --update for {stale}"


def test_every_versioned_schema_has_a_snapshot() -> None:
    names = set(schema_compat.versioned_schemas())
    assert "events/score-computed.v1.json" in names and len(names) >= 12
    assert names == set(schema_compat.load_baseline())


BREAKING = {
    "new required field": lambda s: s["required"].append("period"),
    "removed field": lambda s: s["properties"].pop("notes"),
    "field no longer required": lambda s: s.update(required=[]),
    "type narrowed": lambda s: s["properties"]["notes"].update(type="string"),
    "number to integer": lambda s: s["properties"]["total"].update(type="integer"),
    "enum value removed": lambda s: s["properties"]["stage"].update(enum=["first"]),
    "maxLength lowered": lambda s: s["properties"]["unit_id"].update(maxLength=60),
    "minimum raised": lambda s: s["properties"]["period"].update(minimum=2020),
    "pattern added": lambda s: s["properties"]["unit_id"].update(pattern="^p"),
    "const added": lambda s: s["properties"]["period"].update(const=2026),
    "closed object": lambda s: s.update(additionalProperties=False),
    "nested removed field": lambda s: s["properties"]["items"]["items"]["properties"].clear(),
    "nested new required": lambda s: s["properties"]["items"]["items"].update(
        required=["id"]),
    "allOf member added": lambda s: s.update(allOf=[{"required": ["period"]}]),
}


@pytest.mark.parametrize("kind", sorted(BREAKING))
def test_a_breaking_change_is_reported(kind: str) -> None:
    assert changed(BREAKING[kind]), kind


COMPATIBLE = {
    "new optional field": lambda s: s["properties"].update(extra={"type": "string"}),
    "type widened": lambda s: s["properties"]["unit_id"].update(type=["string", "null"]),
    "integer to number": lambda s: s["properties"]["period"].update(type="number"),
    "enum value added": lambda s: s["properties"]["stage"].update(
        enum=["first", "second", "third"]),
    "bound loosened": lambda s: s["properties"]["unit_id"].update(maxLength=200),
    "description": lambda s: s["properties"]["unit_id"].update(description="the unit"),
}


@pytest.mark.parametrize("kind", sorted(COMPATIBLE))
def test_a_compatible_change_passes(kind: str) -> None:
    assert changed(COMPATIBLE[kind]) == [], kind


def test_a_breaking_edit_of_a_real_schema_fails_and_a_new_version_passes(
        tmp_path: Path) -> None:
    """The whole check on a copy of the schemas: a new required field in v1 fails; the
    same change as a v2 beside the unchanged v1 is a new (compatible) version."""
    root = tmp_path / "schemas"
    (root / "events").mkdir(parents=True)
    source = schema_compat.SCHEMAS / "events" / "score-computed.v1.json"
    schema = json.loads(source.read_text(encoding="utf-8"))
    (root / "events" / "score-computed.v1.json").write_text(json.dumps(schema))
    baseline = tmp_path / "compat"
    schema_compat.write_baseline(schema_compat.versioned_schemas(root), baseline)
    edited = copy.deepcopy(schema)
    edited["properties"]["data"]["required"].append("brand_new")
    (root / "events" / "score-computed.v1.json").write_text(json.dumps(edited))
    broken, _ = compare(schema_compat.versioned_schemas(root),
                        schema_compat.load_baseline(baseline))
    assert any("brand_new" in line for line in broken), broken
    (root / "events" / "score-computed.v1.json").write_text(json.dumps(schema))
    (root / "events" / "score-computed.v2.json").write_text(json.dumps(edited))
    broken, stale = compare(schema_compat.versioned_schemas(root),
                            schema_compat.load_baseline(baseline))
    assert broken == [] and stale == ["events/score-computed.v2.json"]
