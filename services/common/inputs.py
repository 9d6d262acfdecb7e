"""What an HTTP body must be before anything reads it: JSON that every store, hash and
renderer downstream can hold, refused otherwise with a problem that names the field.

Python's `json` accepts more than JSON and less than it seems: it reads `NaN` and
`Infinity` (every comparison with NaN is false, so they pass `minimum`/`maximum`), it
turns `1e999` into infinity, it recurses on nesting (`RecursionError` near 1,000 levels),
it refuses an integer of more than 4,300 digits with a plain `ValueError`, and it keeps a
lone surrogate (`"\\ud800"`) that no UTF-8 encoder will write. `parse` accepts UTF-8 JSON
(RFC 8259) with at most `MAX_DEPTH` levels of nesting, integers that fit 64 bits, finite
numbers and well-formed strings; every service's routes read their bodies through it (the
`JsonGuard` of `services.common.http`)."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import Annotated, Any

from pydantic import AfterValidator

from services.common.problems import Problem

MAX_DEPTH = 32  # a submission nests 5 levels; anything near this bound is not a report
MAX_INT_DIGITS = 19  # 64-bit integers: what MongoDB stores and every reader can add up
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_ERRORS = 10
# Larger bodies are parsed and checked off the event loop (a 1 MB body of small numbers
# takes ~0.1 s); smaller ones cost less than the hand-over to a thread.
OFF_LOOP_BYTES = 64 * 1024
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_CONTAINERS = (dict, list)


class IntegralFloat(float):
    """A number written with a fraction or an exponent whose value is whole (`2024.0`).
    JSON Schema calls it an integer; the platform does not (`date(2024.0, ...)` raises),
    so the schemas' authority refuses it where an integer is expected. The compiled
    validator cannot take this type, which sends such a body down that path."""

    __slots__ = ()


class _Unfit:
    """A scalar `json` produced that the platform cannot hold; `why` says what it was."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


class _Reader:
    """The number hooks of one parse: refuse while parsing, name the field afterwards."""

    def __init__(self) -> None:
        self.unfit = False

    def constant(self, name: str) -> Any:
        self.unfit = True
        return _Unfit(f"{name} is not a JSON number")

    def integer(self, text: str) -> Any:
        digits = len(text.lstrip("-"))
        if digits > MAX_INT_DIGITS:
            self.unfit = True
            return _Unfit(f"an integer of {digits} digits does not fit 64 bits")
        value = int(text)
        if not INT64_MIN <= value <= INT64_MAX:
            self.unfit = True
            return _Unfit(f"{text} does not fit 64 bits")
        return value

    def number(self, text: str) -> Any:
        value = float(text)
        if not math.isfinite(value):
            self.unfit = True
            return _Unfit(f"{text[:40]} is beyond the range of a 64-bit float")
        return IntegralFloat(value) if value.is_integer() else value


def parse(raw: bytes) -> Any:
    """The body as Python values, or Problem: 400 when it is not UTF-8 JSON, 422
    (`unsupported-json`, `errors` naming each field) when it is JSON the platform cannot
    hold."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, "malformed-json", f"the body is not UTF-8: {exc}") from exc
    reader = _Reader()
    try:
        value = json.loads(text, parse_constant=reader.constant, parse_int=reader.integer,
                           parse_float=reader.number)
    except json.JSONDecodeError as exc:
        raise Problem(400, "malformed-json", f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise _unsupported([("(root)", f"nested deeper than {MAX_DEPTH} levels")]) from exc
    _refuse_unfit(value, scalars=reader.unfit or _SURROGATE_ESCAPE.search(text) is not None)
    return value


async def parse_body(raw: bytes) -> Any:
    """`parse`, off the event loop for a large body."""
    if len(raw) > OFF_LOOP_BYTES:
        return await asyncio.to_thread(parse, raw)
    return parse(raw)


def _refuse_unfit(value: Any, *, scalars: bool) -> None:
    """Problem 422 naming the first MAX_ERRORS unfit places of `value` (`_unfit`), if any."""
    found = [("/".join(_printable(p) for p in path) or "(root)", why)
             for path, why in islice(_unfit(value, scalars=scalars), MAX_ERRORS)]
    if found:
        raise _unsupported(sorted(found))


def _unsupported(found: list[tuple[str, str]]) -> Problem:
    return Problem(422, "unsupported-json",
                   "; ".join(f"{field}: {why}" for field, why in found[:5]),
                   errors=[{"field": field, "message": why} for field, why in found])


def _printable(part: Any) -> str:
    # A member name goes back in the problem: a lone surrogate as its escape, and short.
    text = str(part).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 100 else text[:99] + "…"


def _unfit(value: Any, *, scalars: bool) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path, why) of every value too deep, and with `scalars` of every unfit number and
    every string or key with a lone surrogate. Without `scalars` only containers are
    visited: the common case costs one pass over the containers' members in C."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _CONTAINERS):
            if len(path) >= MAX_DEPTH:
                yield path, f"nested deeper than {MAX_DEPTH} levels"
                continue
            items = node.items() if isinstance(node, dict) else enumerate(node)
            if scalars:
                for key, child in items:
                    if isinstance(key, str) and _SURROGATE.search(key):
                        yield (*path, key), "a member name with a lone surrogate (not UTF-8)"
                    stack.append((child, (*path, key)))
            else:
                stack.extend((child, (*path, key)) for key, child in items
                             if isinstance(child, _CONTAINERS))
        elif isinstance(node, _Unfit):
            yield path, node.why
        elif isinstance(node, str) and _SURROGATE.search(node):
            yield path, "a string with a lone surrogate (not UTF-8)"


def check_parsed(value: Any) -> Any:
    """`parse`'s checks for a value another parser already read (a Kafka record's
    `data`, decoded with the event's envelope): the same value with every whole float
    (`2024.0`) marked `IntegralFloat`, so the schemas refuse it where an integer is
    expected; or Problem 422 (`unsupported-json`) naming each NaN or infinity, integer
    beyond 64 bits, lone surrogate and container nested past `MAX_DEPTH`."""
    marked = _mark(value, 0)
    _refuse_unfit(marked, scalars=True)
    return marked


def _mark(node: Any, depth: int) -> Any:
    """A copy with the scalars `parse`'s number hooks would have refused as `_Unfit`.
    Below `MAX_DEPTH` nothing is copied: `_unfit` names the container too deep."""
    if isinstance(node, dict):
        if depth >= MAX_DEPTH:
            return node
        return {key: _mark(child, depth + 1) for key, child in node.items()}
    if isinstance(node, list):
        if depth >= MAX_DEPTH:
            return node
        return [_mark(child, depth + 1) for child in node]
    if isinstance(node, bool) or node is None or isinstance(node, str):
        return node
    if isinstance(node, int):
        if not INT64_MIN <= node <= INT64_MAX:
            return _Unfit(f"an integer of {len(str(abs(node)))} digits does not fit 64 bits")
        return node
    if isinstance(node, float):
        if not math.isfinite(node):
            return _Unfit(f"{node!r} is not a finite JSON number")
        return IntegralFloat(node) if node.is_integer() else node
    return node


def in_platform_range(value: datetime) -> datetime:
    """A date-time of the platform's years; year 1 or 9999 overflows the first time
    anything adds a day or a time zone to it. The year is read as written: no
    arithmetic on a value that may be at the edge of `datetime`."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"the year must be between {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


PlatformDateTime = Annotated[datetime, AfterValidator(in_platform_range)]
