"""What this process remembers of the read models' stored documents, so that most of
their `_id`-first writes need one round trip, or none (see store.py)."""

from __future__ import annotations

from typing import Any

ATTEMPTS = 4  # reads and writes of one event before it is retried as a transient failure
KNOWN_LIMIT = 50_000  # `_id`s remembered per collection (a few seasons of every unit)


class Known:
    """What this process last saw stored under each `_id` of one collection, as a bound
    the stored document can only have moved past since: orders only grow, a submission's
    `first_revision` only falls and its `revision` only rises, a kept field (`sent_at`) is
    never unset. So an event within the bound cannot change the document and needs no
    round trip, and one beyond it goes straight to its conditional write. Only dropping
    the collection (a rebuild) breaks the bound: `ReadModel.drop_all` forgets everything,
    and a value read or written across a drop is not remembered (the epoch)."""

    def __init__(self, limit: int = KNOWN_LIMIT) -> None:
        self.limit = limit
        self._values: dict[str, tuple[Any, Any]] = {}  # `_id` -> its bounds

    def get(self, key: str) -> tuple[Any, Any] | None:
        return self._values.get(key)

    def put(self, key: str, value: tuple[Any, Any]) -> None:
        self._values.pop(key, None)  # the most recently written last: evicted last
        self._values[key] = value
        if len(self._values) > self.limit:
            del self._values[next(iter(self._values))]

    def clear(self) -> None:
        self._values.clear()


def below(stored: Any, new: Any) -> bool:
    """`stored < new` as MongoDB's `$lt` decides it: values of different kinds (or a
    missing one) never match."""
    if isinstance(stored, str) and isinstance(new, str):
        return stored < new
    numbers = (int, float)
    if isinstance(stored, numbers) and isinstance(new, numbers) \
            and not isinstance(stored, bool) and not isinstance(new, bool):
        return stored < new
    return False
