"""MongoDB connections: mongoengine for document definitions and indexes, the async
pymongo client for request and stream paths (the ODM stays off hot paths)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast, overload

import mongoengine
from pymongo import AsyncMongoClient, InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)

from services.common.failures import TransientError

# Errors after which the same write may succeed later: retry, never drop.
T = TypeVar("T")
V = TypeVar("V")
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


@overload
def stored_as(kind: type[T], doc: None) -> None: ...
@overload
def stored_as(kind: type[T], doc: Mapping[str, Any]) -> T: ...
@overload
def stored_as(kind: type[T], doc: Mapping[str, Any] | None) -> T | None: ...
def stored_as(kind: type[T], doc: Mapping[str, Any] | None) -> T | None:
    """A document read from a collection as its type (a TypedDict of the service's
    models.py): the store checked it against its schema class when it wrote it
    (services/common/schema.py), so this is a view for the type checker, nothing
    converted. The one place a store's raw BSON becomes a typed document."""
    return cast("T | None", doc)


def bson(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A typed document as pymongo takes it (a copy: pymongo may add an `_id` to what
    it writes): the one way out of a store's types to BSON."""
    return dict(doc)


def without_id(doc: Mapping[str, V] | None) -> dict[str, V] | None:
    """A stored record without its `_id` (a key built from its own fields)."""
    return None if doc is None else {k: v for k, v in doc.items() if k != "_id"}


def all_stored_as(kind: type[T], docs: Sequence[Mapping[str, Any]]) -> list[T]:
    """`stored_as` for a list of documents."""
    return cast("list[T]", docs)


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
        found = await find_by_ids(self.coll, ids)
        seen: set[str] = set()
        out: list[dict[str, Any] | None] = []
        for i in ids:  # the first caller of an id takes the document, later ones a copy
            doc = found.get(i)
            out.append(copy.deepcopy(doc) if doc is not None and i in seen else doc)
            seen.add(i)
        return out


ID_CHUNK = 500  # ids of one `$in` read


async def find_by_ids(coll: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    """`_id` -> document, for those of `ids` stored: `find({_id: {$in}})`, ID_CHUNK ids a
    read (MongoDB, and the local FerretDB for string ids, answer it from the `_id`
    index: ADR 0002); one id is one `find_one`."""
    unique = list(dict.fromkeys(ids))
    if len(unique) == 1:
        doc = await coll.find_one({"_id": unique[0]})
        return {unique[0]: doc} if doc is not None else {}
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(unique), ID_CHUNK):
        chunk = unique[start:start + ID_CHUNK]
        for doc in await coll.find({"_id": {"$in": chunk}}).to_list(None):
            found[doc["_id"]] = doc
    return found


Upsert = tuple[dict[str, Any], dict[str, Any]]  # (filter by `_id`, update or document)


async def bulk_write(coll: Any, ops: list[Any]) -> dict[str, Any] | None:
    """One unordered `bulk_write`: its result's details, whose `writeErrors` are the
    writes that lost to a duplicate key (any other write error raises); or None when
    FerretDB answered an update batch with a write error without `nModified`, which
    pymongo needs to merge its results: the caller then writes each op alone
    (`write_one`; the services' writes are idempotent)."""
    try:
        result = await coll.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            raise
        return dict(exc.details)
    except KeyError:
        return None
    return getattr(result, "bulk_api_result", None) or {}


async def write_one(coll: Any, op: Any) -> DuplicateKeyError | None:
    """One InsertOne, ReplaceOne or UpdateOne as its plain call; the DuplicateKeyError it
    met (a taken `_id`, or a conditional upsert whose document does not match), if any."""
    try:
        if isinstance(op, InsertOne):
            await coll.insert_one(op._doc)
        elif isinstance(op, ReplaceOne):
            await coll.replace_one(op._filter, op._doc, upsert=bool(op._upsert))
        else:
            await coll.update_one(op._filter, op._doc, upsert=bool(op._upsert))
    except DuplicateKeyError as exc:
        return exc
    return None


async def upsert_one(coll: Any, flt: Mapping[str, Any], update: Mapping[str, Any]) -> None:
    """One `update_one(..., upsert=True)`, sent again if it lost a race with a concurrent
    first upsert of the same `_id` (on FerretDB the loser gets a duplicate key): the
    document exists then, and the second write updates it."""
    try:
        await coll.update_one(flt, update, upsert=True)
    except DuplicateKeyError:
        await coll.update_one(flt, update, upsert=True)


async def upsert_all(coll: Any, upserts: list[Upsert], *, replace: bool = False
                      ) -> list[Upsert]:
    """Idempotent upserts by `_id` (updates, or whole documents if `replace`) in one bulk
    write; returns those that lost a race with a concurrent upsert of the same `_id`
    (which then exists)."""
    if not upserts:
        return []
    ops = [ReplaceOne(f, d, upsert=True) if replace else UpdateOne(f, d, upsert=True)
           for f, d in upserts]
    details = await bulk_write(coll, ops)
    if details is None:
        return [u for u, op in zip(upserts, ops, strict=True)
                if await write_one(coll, op) is not None]
    return [upserts[e["index"]] for e in details.get("writeErrors", [])]


async def upsert_until_written(coll: Any, upserts: list[Upsert], *, replace: bool = False
                               ) -> None:
    """`upsert_all`, and those that lost a race once more: the document exists then."""
    lost = await upsert_all(coll, upserts, replace=replace)
    if lost:
        await upsert_all(coll, lost, replace=replace)


class BulkUpdates:
    """`update_one({_id}, update, upsert=True)` from concurrent callers (a batch's
    records) sent as one unordered `bulk_write`, for updates that commute (`$max`,
    `$min`, `$setOnInsert`: the order within the batch changes nothing). Each caller
    learns whether its write changed the document: True or False when the bulk's counts
    say so for every write of it (a new document, or all or none of the others
    modified), None when they cannot (some were): a caller that needs it reads the
    document back (one `$in` read for the batch with ByIdReads). A lone caller is one
    `update_one`, answered exactly. A write that lost a race with another process's
    first upsert of the same `_id` is sent again alone (the document exists then)."""

    def __init__(self, coll: Any, *, max_ops: int = 500) -> None:
        from services.common.batching import GroupCommit

        self.coll = coll
        self._writes: GroupCommit[Upsert, bool | None] = GroupCommit(
            self._write, window=0.0, max_items=max_ops)

    async def __call__(self, flt: dict[str, Any], update: dict[str, Any]) -> bool | None:
        return await self._writes((flt, update))

    async def _write(self, items: list[Upsert]) -> list[bool | None]:
        if len(items) == 1:
            return [await self._one(*items[0])]
        details = await bulk_write(self.coll, [UpdateOne(f, u, upsert=True)
                                               for f, u in items])
        if details is None:
            return [await self._one(f, u) for f, u in items]
        lost = {e["index"] for e in details.get("writeErrors", [])}
        upserted = {u["index"] for u in details.get("upserted", [])}
        rest = len(items) - len(lost) - len(upserted)
        modified = int(details.get("nModified") or 0)
        others: bool | None = True if modified >= rest else False if modified == 0 else None
        return [await self._one(*items[i]) if i in lost else True if i in upserted
                else others for i in range(len(items))]

    async def _one(self, flt: dict[str, Any], update: dict[str, Any]) -> bool:
        for _ in range(3):
            try:
                result = await self.coll.update_one(flt, update, upsert=True)
            except DuplicateKeyError:
                continue  # two first writers of a new `_id` on FerretDB: it exists now
            return bool(result.modified_count or result.upserted_id is not None)
        raise TransientError(f"{flt} kept changing during the write")


class BulkWrites:
    """Single-document writes (InsertOne, ReplaceOne, UpdateOne) from concurrent callers
    sent as one unordered `bulk_write`; each caller returns once its write is done, or
    gets the DuplicateKeyError its write alone would have raised (a taken `_id`, or a
    conditional upsert whose document exists but does not match), and handles it as
    before. For writes whose caller needs no count back. A lone caller is one plain
    call (`insert_one`, `replace_one`, `update_one`)."""

    def __init__(self, coll: Any, *, max_ops: int = 500) -> None:
        from services.common.batching import GroupCommit

        self.coll = coll
        self._writes: GroupCommit[Any, None] = GroupCommit(
            self._write, window=0.0, max_items=max_ops)

    async def __call__(self, op: Any) -> None:
        await self._writes(op)

    async def _write(self, ops: list[Any]) -> list[Exception | None]:
        if len(ops) == 1:
            return [await self._one(ops[0])]
        details = await bulk_write(self.coll, ops)
        if details is None:
            return [await self._one(op) for op in ops]
        lost = {e["index"]: e for e in details.get("writeErrors", [])}
        return [DuplicateKeyError(str(lost[i].get("errmsg", "E11000")), DUPLICATE_KEY)
                if i in lost else None for i in range(len(ops))]

    async def _one(self, op: Any) -> Exception | None:
        return await write_one(self.coll, op)


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
        await upsert_until_written(self.coll, upserts, replace=self.replace)
        return [None] * len(upserts)
