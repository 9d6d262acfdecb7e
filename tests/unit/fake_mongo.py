"""An in-memory stand-in for the async pymongo database, with the operations the
notifications service and the registry replica use and MongoDB's semantics for them.
Every call is recorded (collection, operation, filter), so a test can say which calls
were reads by `_id` and which would scan a collection."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from tests.fakes.bson_order import bson_order


@dataclass
class Result:
    matched_count: int = 0
    modified_count: int = 0
    deleted_count: int = 0
    upserted_id: Any = None


def _lookup(doc: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    """Whether a (dotted) field exists, and its value."""
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def matches(doc: dict[str, Any], flt: dict[str, Any]) -> bool:
    for key, want in flt.items():
        present, have = _lookup(doc, key)
        if isinstance(want, dict):
            if "$exists" in want and present != bool(want["$exists"]):
                return False
            if "$lte" in want and not (have is not None and have <= want["$lte"]):
                return False
            if "$in" in want and have not in want["$in"]:
                return False
        elif have != want:
            return False
    return True


def _path(doc: dict[str, Any], dotted: str) -> tuple[dict[str, Any], str]:
    *parents, last = dotted.split(".")
    for p in parents:
        doc = doc.setdefault(p, {})
    return doc, last


class Cursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    async def to_list(self, n: int | None = None) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        return [copy.deepcopy(d) for d in self.docs[:n]]

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        for doc in list(self.docs):
            await asyncio.sleep(0)
            yield copy.deepcopy(doc)


class FakeCollection:
    def __init__(self, db: FakeDb, name: str) -> None:
        self.db, self.name = db, name
        self.docs: dict[str, dict[str, Any]] = {}

    def _call(self, op: str, flt: dict[str, Any]) -> None:
        self.db.calls.append((self.name, op, copy.deepcopy(flt)))

    async def find_one(self, flt: dict[str, Any]) -> dict[str, Any] | None:
        self._call("find_one", flt)
        await asyncio.sleep(0)
        return copy.deepcopy(next((d for d in self.docs.values() if matches(d, flt)), None))

    def find(self, flt: dict[str, Any], projection: Any = None) -> Cursor:
        self._call("find", flt)
        return Cursor([d for d in self.docs.values() if matches(d, flt)])

    async def insert_one(self, doc: dict[str, Any]) -> None:
        self._call("insert_one", {"_id": doc["_id"]})
        await asyncio.sleep(0)
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("E11000 duplicate key")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def replace_one(self, flt: dict[str, Any], doc: dict[str, Any],
                          upsert: bool = False) -> Result:
        self._call("replace_one", flt)
        await asyncio.sleep(0)
        old = self.docs.get(flt["_id"])
        if old is not None and matches(old, flt):
            self.docs[flt["_id"]] = {**copy.deepcopy(doc), "_id": flt["_id"]}
            return Result(matched_count=1)
        if upsert:
            self.docs[flt["_id"]] = {**copy.deepcopy(doc), "_id": flt["_id"]}
            return Result(upserted_id=flt["_id"])
        return Result()

    async def update_one(self, flt: dict[str, Any], update: dict[str, Any],
                         upsert: bool = False) -> Result:
        self._call("update_one", flt)
        await asyncio.sleep(0)
        doc = next((d for d in self.docs.values() if matches(d, flt)), None)
        inserted = None
        if doc is None:
            if not upsert:
                return Result()
            doc = self.docs[flt["_id"]] = {"_id": flt["_id"],
                                           **copy.deepcopy(update.get("$setOnInsert", {}))}
            inserted = flt["_id"]
        before = copy.deepcopy(doc)
        for dotted, value in update.get("$set", {}).items():
            parent, last = _path(doc, dotted)
            parent[last] = copy.deepcopy(value)
        for dotted in update.get("$unset", {}):
            parent, last = _path(doc, dotted)
            parent.pop(last, None)
        for dotted, value in update.get("$max", {}).items():
            parent, last = _path(doc, dotted)
            if last not in parent or bson_order(parent[last]) < bson_order(value):
                parent[last] = copy.deepcopy(value)
        for dotted, value in update.get("$min", {}).items():
            parent, last = _path(doc, dotted)
            if last not in parent or bson_order(value) < bson_order(parent[last]):
                parent[last] = copy.deepcopy(value)
        for dotted, spec in update.get("$addToSet", {}).items():
            parent, last = _path(doc, dotted)
            values = parent.setdefault(last, [])
            values += [v for v in spec["$each"] if v not in values]
        return Result(matched_count=0 if inserted else 1,
                      modified_count=int(not inserted and doc != before),
                      upserted_id=inserted)

    async def bulk_write(self, ops: list[Any], ordered: bool = True) -> BulkResult:
        return await apply_bulk(self, ops)

    async def delete_one(self, flt: dict[str, Any]) -> Result:
        self._call("delete_one", flt)
        await asyncio.sleep(0)
        doc = next((d for d in self.docs.values() if matches(d, flt)), None)
        if doc is None:
            return Result()
        del self.docs[doc["_id"]]
        return Result(deleted_count=1)


class FakeDb:
    def __init__(self) -> None:
        self.colls: dict[str, FakeCollection] = {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __getitem__(self, name: str) -> FakeCollection:
        return self.colls.setdefault(name, FakeCollection(self, name))

    def scans(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The calls since the last `reset` whose filter has no `_id`."""
        return [c for c in self.calls if "_id" not in c[2]]

    def reset(self) -> None:
        self.calls.clear()


@dataclass
class BulkResult:
    bulk_api_result: dict[str, Any]


async def apply_bulk(coll: Any, ops: list[Any]) -> BulkResult:
    """A fake's `bulk_write`: InsertOne, UpdateOne and ReplaceOne requests, one after another; its
    result's counts as MongoDB reports them."""
    modified, upserted, errors = 0, [], []
    for i, op in enumerate(ops):
        try:
            if type(op).__name__ == "InsertOne":
                result = await coll.insert_one(op._doc)
            elif type(op).__name__ == "ReplaceOne":
                result = await coll.replace_one(op._filter, op._doc, upsert=bool(op._upsert))
            else:
                result = await coll.update_one(op._filter, op._doc, upsert=bool(op._upsert))
        except DuplicateKeyError:
            errors.append({"index": i, "code": 11000, "errmsg": "E11000 duplicate key"})
            continue
        if result is None:
            continue
        modified += getattr(result, "modified_count", 0)
        if getattr(result, "upserted_id", None) is not None:
            upserted.append({"index": i, "_id": result.upserted_id})
    details = {"nModified": modified, "upserted": upserted, "writeErrors": errors}
    if errors:
        raise BulkWriteError(details)
    return BulkResult(details)
