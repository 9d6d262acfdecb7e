"""The typed contracts (services/common/contracts.py) against the JSON Schemas: every
TypedDict has its schema's keys, the same required/optional split and compatible value
types, recursively, so a key renamed in a schema or in the code fails here; every event
type of the catalogue and every event schema has its payload type."""

import inspect
import json
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, NotRequired, get_args, get_origin

import pytest

from services.common import contracts, event_types

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "schemas"
REQUEST = "urn:emulation:schema:submission-request:v1"

JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean",
              type(None): "null", list: "array", dict: "object"}


@cache
def _by_id() -> dict[str, dict[str, Any]]:
    docs = [json.loads(p.read_text(encoding="utf-8"))
            for folder in ("events", "requests") for p in (SCHEMAS / folder).glob("*.json")]
    return {d["$id"]: d for d in docs}


def _doc(name: str) -> dict[str, Any]:
    folder = "requests" if name == "submission-request.v1" else "events"
    return json.loads((SCHEMAS / folder / f"{name}.json").read_text(encoding="utf-8"))


def _resolve(node: dict[str, Any], doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`node` with its `$ref` followed (within `doc` or to another schema by its id)."""
    while "$ref" in node:
        ref = node["$ref"]
        if ref.startswith("#/"):
            node = _pointer(doc, ref[2:])
        else:
            doc = _by_id()[ref]
            node = doc
    return node, doc


def _pointer(doc: dict[str, Any], path: str) -> dict[str, Any]:
    node: Any = doc
    for part in path.split("/"):
        node = node[part]
    return node


def _is_typeddict(t: Any) -> bool:
    return isinstance(t, type) and typing.is_typeddict(t)


def _strip(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is NotRequired else annotation


def _members(annotation: Any) -> list[Any]:
    """The members of a union (`X | None`), or the annotation alone."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return list(get_args(annotation))
    return [annotation]


def _schema_types(node: dict[str, Any]) -> set[str] | None:
    """The JSON types a schema node allows, or None when it does not say."""
    if "oneOf" in node:
        found: set[str] = set()
        for branch in node["oneOf"]:
            branch_types = _schema_types(branch)
            if branch_types is None:
                return None
            found |= branch_types
        return found
    if "type" in node:
        return set(node["type"]) if isinstance(node["type"], list) else {node["type"]}
    if "enum" in node:
        return {JSON_TYPES[type(v)] for v in node["enum"]}
    if "properties" in node:
        return {"object"}
    return None


def _check(td: type, node: dict[str, Any], doc: dict[str, Any], where: str,
           seen: set[str]) -> None:
    node, doc = _resolve(node, doc)
    assert node.get("type", "object") == "object", where
    properties = node.get("properties", {})
    required = set(node.get("required", []))
    assert set(td.__annotations__) == set(properties), f"{where}: keys"
    assert td.__required_keys__ == required, f"{where}: required keys"
    assert td.__optional_keys__ == set(properties) - required, f"{where}: optional keys"
    seen.add(td.__name__)
    hints = typing.get_type_hints(td, include_extras=True)
    for key, annotation in hints.items():
        _check_value(_strip(annotation), properties[key], doc, f"{where}.{key}", seen)


def _check_value(annotation: Any, node: dict[str, Any], doc: dict[str, Any], where: str,
                 seen: set[str]) -> None:
    node, doc = _resolve(node, doc)
    allowed = _schema_types(node)
    members = _members(annotation)
    declared = {"object" if _is_typeddict(m) else JSON_TYPES[get_origin(m) or m]
                for m in members}
    if allowed is not None:
        assert declared == allowed, f"{where}: {declared} against {allowed}"
    for member in members:
        if _is_typeddict(member):
            _check(member, node, doc, where, seen)
        elif get_origin(member) is list and _is_typeddict(get_args(member)[0]):
            _check(get_args(member)[0], node["items"], doc, f"{where}[]", seen)
        elif get_origin(member) is dict and _is_typeddict(get_args(member)[1]):
            value = get_args(member)[1]
            if "additionalProperties" in node:
                _check(value, node["additionalProperties"], doc, f"{where}{{}}", seen)
            else:  # the self-assessment: one assessment per criterion of each unit type
                criteria = [d for name, d in doc["$defs"].items() if name.startswith("criteria_")]
                refs = {p["$ref"] for c in criteria for p in c["properties"].values()}
                assert refs == {"#/$defs/assessment"}, where
                _check(value, doc["$defs"]["assessment"], doc, f"{where}{{}}", seen)


CONTRACTS = sorted((schema, payload) for c in contracts.PAYLOADS.values()
                   for schema, payload in ((c.schema, c.payload), *c.older))


@pytest.mark.parametrize(("schema", "payload"), CONTRACTS,
                         ids=[f"{s}:{p.__name__}" for s, p in CONTRACTS])
def test_each_payload_type_has_its_schemas_keys_and_types(schema: str, payload: type) -> None:
    doc = _doc(schema)
    _check(payload, doc["properties"]["data"], doc, payload.__name__, set())


def test_the_request_body_type_is_the_request_schema() -> None:
    doc = _doc("submission-request.v1")
    _check(contracts.SubmissionRequest, doc, doc, "SubmissionRequest", set())


def test_every_typeddict_is_checked_against_a_schema() -> None:
    seen: set[str] = set()
    for schema, payload in CONTRACTS:
        doc = _doc(schema)
        _check(payload, doc["properties"]["data"], doc, payload.__name__, seen)
    defined = {name for name, obj in inspect.getmembers(contracts, _is_typeddict)
               if obj.__module__ == contracts.__name__}
    # A base is checked with each type built on it: its keys, required and optional, are
    # theirs (Python 3.11 keeps no record of a TypedDict's bases).
    bases = {name for name in defined - seen if any(
        _part_of(getattr(contracts, name), getattr(contracts, checked)) for checked in seen)}
    assert defined == seen | bases


def _part_of(base: Any, td: Any) -> bool:
    return (base.__required_keys__ <= td.__required_keys__
            and base.__optional_keys__ <= td.__optional_keys__)


def test_every_event_type_and_event_schema_has_its_payload_type() -> None:
    assert set(contracts.PAYLOADS) == event_types.ALL
    schemas = {p.stem for p in (SCHEMAS / "events").glob("*.json")}
    assert {s for s, _ in CONTRACTS} == schemas
    for event_type, contract in contracts.PAYLOADS.items():
        for schema in (contract.schema, *(s for s, _ in contract.older)):
            declared = _doc(schema)["properties"]["type"]
            assert event_type in declared.get("enum", [declared.get("const")]), schema


def test_a_renamed_key_fails_the_check() -> None:
    class Renamed(typing.TypedDict):
        movement: str
        period: int
        deadline: str
        set_by: str
        set_when: str  # the schema's set_at
        reason: NotRequired[str | None]

    doc = _doc("deadline-set.v1")
    with pytest.raises(AssertionError):
        _check(Renamed, doc["properties"]["data"], doc, "Renamed", set())


def test_a_required_key_made_optional_fails_the_check() -> None:
    class Loose(typing.TypedDict, total=False):
        movement: str
        period: int
        deadline: str
        set_by: str
        set_at: str
        reason: str | None

    doc = _doc("deadline-set.v1")
    with pytest.raises(AssertionError):
        _check(Loose, doc["properties"]["data"], doc, "Loose", set())
