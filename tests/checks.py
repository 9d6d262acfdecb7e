"""Small assertions the tests share."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def present(value: T | None) -> T:
    """`value`, asserted to be there: a lookup that must find something."""
    assert value is not None
    return value
