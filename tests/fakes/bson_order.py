"""MongoDB's order of values, for the in-memory database's `$min`/`$max`
(tests/fakes/mongo.py): embedded documents compare field by field (name, then value), in
their own order."""

from __future__ import annotations

from typing import Any


def bson_order(v: Any) -> Any:
    """A sort key in MongoDB's order for the values the services store."""
    if isinstance(v, dict):
        return (5, tuple((k, bson_order(x)) for k, x in v.items()))
    if isinstance(v, list):
        return (6, tuple(bson_order(x) for x in v))
    if v is None:
        return (0,)
    if isinstance(v, bool):
        return (7, v)
    if isinstance(v, int | float):
        return (1, v)
    if isinstance(v, str):
        return (2, v)
    return (8, v)
