"""MongoDB connections: mongoengine for document definitions and indexes, the async
pymongo client for request and stream paths (the ODM stays off hot paths)."""

from __future__ import annotations

import copy
from typing import Any

import mongoengine
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
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


def async_database(url: str, db: str) -> tuple[AsyncMongoClient[Any], AsyncDatabase[Any]]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        url, tz_aware=True, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000,
        socketTimeoutMS=10000,
    )
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
