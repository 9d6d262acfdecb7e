"""MongoDB connections: mongoengine for document definitions and indexes, the async
pymongo client for request and stream paths (the ODM stays off hot paths)."""

from __future__ import annotations

import copy
from typing import Any, cast

import mongoengine
from pymongo import AsyncMongoClient, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)

# Errors after which the same write may succeed later: retry, never drop.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError,
)
DUPLICATE_KEY = 11000


def connect_odm(url: str, db: str, documents: list[Any]) -> None:
    """Register the service's database with mongoengine and create its indexes."""
    mongoengine.disconnect(alias="default")
    mongoengine.connect(db=db, host=url, alias="default", serverSelectionTimeoutMS=5000,
                        uuidRepresentation="standard")
    for doc in documents:
        doc.ensure_indexes()


def async_database(url: str, db: str, serial_writes: bool = False
                   ) -> tuple[AsyncMongoClient[Any], AsyncDatabase[Any]]:
    """`serial_writes`: one write at a time from this process to this database (for the
    local FerretDB: services/common/serial.py)."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        url, tz_aware=True, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000,
        socketTimeoutMS=10000,
    )
    if serial_writes:
        from services.common.serial import SerialWritesDatabase

        return client, cast(AsyncDatabase[Any], SerialWritesDatabase(client[db]))
    return client, client[db]


async def ping(db: AsyncDatabase[Any]) -> None:
    await db.command("ping")


async def insert_new(coll: Any, doc: dict[str, Any]) -> bool:
    """Insert `doc`; False if its `_id` (or another unique key) is taken. The services'
    claims are such inserts: FerretDB has no transactions and no atomic findAndModify."""
    try:
        await coll.insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


class ByIdReads:
    """`find_one({_id})` for concurrent callers (the records of a batch) answered by one
    `find({_id: {$in: [...]}})`: MongoDB answers it from the `_id` index, and so does
    the local FerretDB for string ids (its patch 0004; ADR 0002). A lone caller is one
    `find_one`, as before. Each caller gets its own copy of the document."""

    def __init__(self, coll: Any, max_ids: int = 500) -> None:
        from services.common.batching import GroupCommit

        self.coll = coll
        self._reads: GroupCommit[str, dict[str, Any] | None] = GroupCommit(
            self._read, window=0.0, max_items=max_ids)

    async def get(self, _id: str) -> dict[str, Any] | None:
        return await self._reads(_id)

    async def _read(self, ids: list[str]) -> list[dict[str, Any] | None]:
        unique = list(dict.fromkeys(ids))
        if len(unique) == 1:
            doc = await self.coll.find_one({"_id": unique[0]})
            found = {unique[0]: doc} if doc is not None else {}
        else:
            found = {d["_id"]: d for d in
                     await self.coll.find({"_id": {"$in": unique}}).to_list(None)}
        return [copy.deepcopy(found[i]) if i in found else None for i in ids]


Upsert = tuple[dict[str, Any], dict[str, Any]]  # (filter by `_id`, update or document)


async def upsert_all(coll: Any, upserts: list[Upsert], *, replace: bool = False
                      ) -> list[Upsert]:
    """Idempotent upserts by `_id` (updates, or whole documents if `replace`) in one bulk
    write; returns those that lost a race with a concurrent upsert of the same `_id`
    (which then exists)."""
    if not upserts:
        return []
    ops = [ReplaceOne(f, d, upsert=True) if replace else UpdateOne(f, d, upsert=True)
           for f, d in upserts]
    try:
        await coll.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return [upserts[e["index"]] for e in errors]
    except KeyError:
        # FerretDB answers an update batch with a write error without `nModified`, which
        # pymongo needs to merge its results: write them one by one (each idempotent).
        lost = []
        for f, d in upserts:
            try:
                if replace:
                    await coll.replace_one(f, d, upsert=True)
                else:
                    await coll.update_one(f, d, upsert=True)
            except DuplicateKeyError:
                lost.append((f, d))
        return lost
    return []


class BulkUpserts:
    """Idempotent upserts by `_id` from concurrent callers (a batch's records) sent as
    one unordered `bulk_write` (on the local FerretDB, one write instead of many that
    wait on each other: ADR 0002). Each caller returns once its upsert is written; one
    that lost a race with another process's first upsert of the same `_id` is written
    again (the document exists then). For writes whose caller needs no count back."""

    def __init__(self, coll: Any, *, replace: bool = False, max_ops: int = 500) -> None:
        from services.common.batching import GroupCommit

        self.coll, self.replace = coll, replace
        self._writes: GroupCommit[Upsert, None] = GroupCommit(
            self._write, window=0.0, max_items=max_ops)

    async def __call__(self, flt: dict[str, Any], update: dict[str, Any]) -> None:
        await self._writes((flt, update))

    async def _write(self, upserts: list[Upsert]) -> list[None]:
        lost = await upsert_all(self.coll, upserts, replace=self.replace)
        if lost:
            await upsert_all(self.coll, lost, replace=self.replace)
        return [None] * len(upserts)
