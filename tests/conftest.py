from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stackfixture import TEST_NOW, Stack, start_test_stack

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    yield from start_test_stack()


@pytest.fixture
def clock(stack: Stack) -> Iterator[Stack]:
    """Lets a test set the services' clock (`clock.set_clock(iso)`); puts it back after."""
    yield stack
    stack.set_clock(TEST_NOW)


@pytest.fixture
def example_request() -> dict[str, Any]:
    """A fresh copy of schemas/examples/submission-request.json (province:quang-ninh)."""
    path = ROOT / "schemas" / "examples" / "submission-request.json"
    return copy.deepcopy(json.loads(path.read_text(encoding="utf-8")))


def request_for(base: dict[str, Any], unit_id: str, period: int) -> dict[str, Any]:
    """The example adapted to another unit (criteria of that unit's type)."""
    body = copy.deepcopy(base)
    body["unit_id"], body["period"] = unit_id, period
    unit_type = unit_id.split(":")[0]
    ids = {"ministry": ["M1", "M2", "M3", "M4"], "province": ["P1", "P2", "P3", "P4"],
           "police": ["P1", "P2", "P3", "P4"], "front": ["F1", "F2", "F3", "F4"],
           "organization": ["O1", "O2"], "individual": ["I1"]}[unit_type]  # one group: 5a
    body["self_assessment"] = {c: {"rating": 7 + i % 3} for i, c in enumerate(ids)}
    return body
