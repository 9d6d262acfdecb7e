"""One write at a time per database, for the local server. FerretDB's SQLite backend
lets one transaction write a database file at a time and makes the others wait in
SQLite's busy handler, which sleeps (1, 2, 5, 10 ... 100 ms) instead of waking when the
lock is free: 16 concurrent writes by `_id` took 22-31 ms each where one alone takes
1.3 ms (measured on the bench stack, ADR 0002). Queued in the client instead, each
write takes its own time; reads (WAL: never blocked by a writer) go on concurrently.
MongoDB has no such lock: production leaves this off (`EMULATION_MONGO_SERIAL_WRITES`)."""

from __future__ import annotations

import asyncio
from typing import Any

WRITES = frozenset({
    "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one",
    "delete_many", "bulk_write", "find_one_and_update", "find_one_and_replace",
    "find_one_and_delete",
})


class SerialCollection:
    def __init__(self, coll: Any, lock: asyncio.Lock) -> None:
        self._coll, self._lock = coll, lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._coll, name)
        if name not in WRITES:
            return attr

        async def serial(*args: Any, **kwargs: Any) -> Any:
            async with self._lock:
                return await attr(*args, **kwargs)

        return serial

    def __getitem__(self, name: str) -> SerialCollection:
        return SerialCollection(self._coll[name], self._lock)


class SerialWritesDatabase:
    """A database whose collections write one at a time (per process and database)."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    def __getitem__(self, name: str) -> SerialCollection:
        return SerialCollection(self._db[name], self._lock)

    def get_collection(self, name: str, *args: Any, **kwargs: Any) -> SerialCollection:
        return SerialCollection(self._db.get_collection(name, *args, **kwargs), self._lock)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._db, name)
        return attr
