"""The event contract's compatibility check: a versioned schema (`schemas/**/*.v<N>.json`)
may change only in ways that break neither its consumers nor its producers; anything else
takes a new version (`*.v<N+1>.json`, and for an event a new topic).

    python -m devstack.schema_compat            # compare with schemas/compat/, exit 1 if broken
    python -m devstack.schema_compat --update   # record compatible changes (refused if broken)

The baseline is a snapshot of each versioned schema in `schemas/compat/` (YAML, so that
the schema loaders, which read `*.json`, never take it for a schema). Breaking, at any
depth (properties, items, `$defs`, `allOf`/`anyOf`/`oneOf`, additional properties):

- a new required field: a producer of the old shape no longer sends valid records;
- a removed field, or one no longer required: a consumer reading it finds nothing;
- a narrowed value: a type dropped (or `number` become `integer`), an enum value removed,
  a new `const`/`enum`/`pattern`/`format`, a tighter bound (`minLength` up, `maximum`
  down, ...), additional properties forbidden, a `$ref` pointing elsewhere.

Compatible: a new optional field, a widened type, a new enum value (consumers ignore what
they do not know, docs/architecture.md), looser bounds, new descriptions."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"
BASELINE = SCHEMAS / "compat"
VERSIONED = re.compile(r"\.v[0-9]+\.json$")
LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
EXACT = ("const", "pattern", "format", "$ref", "multipleOf")
SUBSCHEMAS = ("items", "additionalProperties", "not", "contains", "propertyNames")
LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
MAPS = ("properties", "$defs", "definitions", "patternProperties")


def _types(schema: dict[str, Any]) -> set[str] | None:
    """The JSON types a schema allows at its own level; None: any."""
    declared = schema.get("type")
    if declared is None:
        return None
    kinds = {declared} if isinstance(declared, str) else set(declared)
    return kinds | {"integer"} if "number" in kinds else kinds


def breaking_changes(old: Any, new: Any, where: str = "") -> Iterator[str]:
    """What in `new` would break a consumer or producer of `old`, one line each."""
    at = where or "/"
    old = {} if old is True else old  # `true` and `{}` both allow anything
    if new is True or old is False:
        return  # anything is allowed now, or nothing was before
    if new is False:
        yield f"{at}: nothing allowed any more (was {json.dumps(old)})"
        return
    old_types, new_types = _types(old), _types(new)
    if new_types is not None and (old_types is None or not old_types <= new_types):
        yield f"{at}: type narrowed from {old.get('type', 'any')} to {new['type']}"
    if "enum" in new and ("enum" not in old or not set(map(json.dumps, old["enum"]))
                          <= set(map(json.dumps, new["enum"]))):
        yield f"{at}: enum narrowed from {old.get('enum', 'any value')} to {new['enum']}"
    for word in EXACT:
        if word in new and old.get(word) != new[word]:
            yield f"{at}: {word} {'changed' if word in old else 'added'}: {new[word]!r}"
    for word in LOWER_BOUNDS:
        if word in new and (word not in old or new[word] > old[word]):
            yield f"{at}: {word} raised to {new[word]} (was {old.get(word, 'none')})"
    for word in UPPER_BOUNDS:
        if word in new and (word not in old or new[word] < old[word]):
            yield f"{at}: {word} lowered to {new[word]} (was {old.get(word, 'none')})"
    for name in sorted(set(new.get("required", ())) - set(old.get("required", ()))):
        yield f"{at}: new required field {name!r} (old producers do not send it)"
    for name in sorted(set(old.get("required", ())) - set(new.get("required", ()))):
        if name in new.get("properties", {}):
            yield f"{at}: field {name!r} no longer required (consumers rely on it)"
    for word in MAPS:
        old_map, new_map = old.get(word, {}), new.get(word, {})
        for name in sorted(old_map):
            if name not in new_map:
                yield f"{at}{word}/{name}: removed (consumers may read it)"
            else:
                yield from breaking_changes(old_map[name], new_map[name],
                                            f"{at}{word}/{name}/")
    for word in SUBSCHEMAS:
        if word in new:
            yield from breaking_changes(old.get(word, True), new[word], f"{at}{word}/")
    for word in LISTS:
        old_list, new_list = old.get(word, []), new.get(word, [])
        # allOf narrows with each member; anyOf/oneOf narrow when they appear or shrink.
        if (len(new_list) > len(old_list) if word in ("allOf", "prefixItems")
                else bool(new_list) and (not old_list or len(new_list) < len(old_list))):
            yield f"{at}{word}: {len(old_list)} subschemas became {len(new_list)}"
        for i, (o, n) in enumerate(zip(old_list, new_list, strict=False)):
            yield from breaking_changes(o, n, f"{at}{word}/{i}/")


def versioned_schemas(root: Path = SCHEMAS) -> dict[str, dict[str, Any]]:
    return {str(p.relative_to(root)): json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(root.rglob("*.json"))
            if VERSIONED.search(p.name) and "examples" not in p.parts}


def snapshot_path(name: str, baseline: Path = BASELINE) -> Path:
    return baseline / (name.removesuffix(".json") + ".yaml")


def load_baseline(baseline: Path = BASELINE) -> dict[str, dict[str, Any]]:
    return {str(p.relative_to(baseline).with_suffix(".json")):
            yaml.safe_load(p.read_text(encoding="utf-8"))
            for p in sorted(baseline.rglob("*.yaml"))}


def compare(current: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]]
            ) -> tuple[list[str], list[str]]:
    """(breaking changes, schemas whose snapshot is out of date but compatible)."""
    broken, stale = [], []
    for name, old in sorted(baseline.items()):
        if name not in current:
            broken.append(f"{name}: removed (a version stays while anyone may use it)")
            continue
        broken += [f"{name} {line}" for line in breaking_changes(old, current[name])]
    for name, schema in sorted(current.items()):
        if baseline.get(name) != schema:
            stale.append(name)
    return broken, stale


def write_baseline(current: dict[str, dict[str, Any]], baseline: Path = BASELINE) -> None:
    for name, schema in current.items():
        path = snapshot_path(name, baseline)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(schema, sort_keys=False, allow_unicode=True),
                        encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true",
                        help="record compatible changes and new versions in schemas/compat/")
    args = parser.parse_args(argv)
    current = versioned_schemas()
    broken, stale = compare(current, load_baseline())
    for line in broken:
        print(f"BREAKING {line}")
    if broken:
        print("a breaking change takes a new version of the schema (and of its topic)")
        return 1
    if args.update:
        write_baseline({n: current[n] for n in stale})
        print(f"recorded: {', '.join(stale) or 'nothing (up to date)'}")
        return 0
    for name in stale:
        print(f"not recorded in schemas/compat/: {name} (compatible: python -m "
              "devstack.schema_compat --update)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
