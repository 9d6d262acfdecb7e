"""MongoDB connections: mongoengine for document definitions and indexes, the async
pymongo client for request and stream paths (the ODM stays off hot paths)."""

from __future__ import annotations

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
