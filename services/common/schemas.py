"""JSON Schemas from `schemas/`, loaded once, with errors that name the field.

Every request and every consumed event is validated, so validation is on every hot path.
A compiled validator (`jsonschema_rs`, ~0.02 ms per accepted event) answers "valid?";
only an instance it refuses goes through `jsonschema` (~3-6 ms), which remains the
authority and words the errors. The fast validator checks formats and anchors its
patterns at least as strictly, so "valid" there implies valid here: a disagreement can
only send a valid instance down the slow path, never let an invalid one through.

Two departures from JSON Schema, for what the code does with the values: an integer is
an `int` (`2024.0` is not one: `date(2024.0, ...)` raises), and the errors of one
instance are collected up to `MAX_ERRORS` (20,000 bad members would otherwise take
seconds to word). The fast validator cannot tell 2024.0 from 2024, so the safe JSON
parser (`services.common.inputs`) reads such a number as an `IntegralFloat`, which sends
the instance to the authority. `errors_off_loop` words the errors in a thread."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker, validators
from referencing import Registry, Resource

from services.common.settings import REPO_ROOT

SCHEMAS_DIR = REPO_ROOT / "schemas"
MAX_ERRORS = 50


def _is_integer(_: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator: type[Draft202012Validator] = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@cache
def _registry(root: Path) -> tuple[Registry, dict[str, dict[str, Any]]]:
    by_name: dict[str, dict[str, Any]] = {}
    resources = []
    for path in sorted(root.rglob("*.json")):
        if "examples" in path.parts:
            continue
        schema = json.loads(path.read_text(encoding="utf-8"))
        by_name[path.name.removesuffix(".json")] = schema
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources), by_name


@cache
def validator(name: str, root: Path = SCHEMAS_DIR) -> Draft202012Validator:
    """The validator of `schemas/**/<name>.json`, e.g. `submission-request.v1`."""
    registry, by_name = _registry(root)
    if name not in by_name:
        raise KeyError(f"no schema named {name!r} in {root}")
    return StrictValidator(
        by_name[name], registry=registry, format_checker=FormatChecker()
    )


@cache
def _fast(name: str, root: Path = SCHEMAS_DIR) -> Any:
    _, by_name = _registry(root)
    if name not in by_name:
        raise KeyError(f"no schema named {name!r} in {root}")
    rs_registry = jsonschema_rs.Registry([(s["$id"], s) for s in by_name.values()])
    return jsonschema_rs.validator_for(by_name[name], registry=rs_registry,
                                       validate_formats=True)


def fast_valid(name: str, instance: Any) -> bool:
    """True only when the compiled validator accepts `instance` (False also when it
    cannot take the value at all, e.g. a Python object with no JSON form)."""
    try:
        return bool(_fast(name).is_valid(instance))
    except (ValueError, TypeError, OverflowError):
        return False


def errors(name: str, instance: Any) -> list[FieldError]:
    """Every violation of the schema, as (field path, message), most specific first."""
    if fast_valid(name, instance):
        return []
    return slow_errors(name, instance)


async def errors_off_loop(name: str, instance: Any) -> list[FieldError]:
    """`errors`, the slow path in a thread: a large invalid body never holds the event
    loop (and with it every request and heartbeat of the process)."""
    if fast_valid(name, instance):
        return []
    return await asyncio.to_thread(slow_errors, name, instance)


def slow_errors(name: str, instance: Any) -> list[FieldError]:
    """`errors` by `jsonschema` alone: the authority, and the wording of the errors (at
    most `MAX_ERRORS` of them)."""
    found: list[FieldError] = []
    for err in islice(validator(name).iter_errors(instance), MAX_ERRORS):
        leaves = _leaves(err)
        for leaf in leaves:
            path = "/".join(str(p) for p in leaf.absolute_path)
            found.append(FieldError(field=path or "(root)", message=leaf.message[:300]))
    found.sort(key=lambda e: e.field)
    return found[:MAX_ERRORS]


def _leaves(err: Any) -> list[Any]:
    # For if/then and oneOf branches the useful message is in the deepest errors.
    if not err.context:
        return [err]
    best = [e for e in err.context if e.absolute_path == max(
        (c.absolute_path for c in err.context), key=len)]
    return [leaf for e in best for leaf in _leaves(e)]
