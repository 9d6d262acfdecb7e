"""An in-memory stand-in for the async pymongo database: the operations the services call
(`Database` and `Collection` in services/common/ports.py) with MongoDB's semantics where
the services depend on them, as the local FerretDB behaves: per-document atomic writes; a
unique `_id`, and the unique indexes a test declares (`unique=`); an upsert whose filter
does not match the stored document of its `_id` refused with E11000; comparisons only
between values of one kind; `$min`/`$max` in BSON order.

For the tests' questions: every call is logged, as `Call(collection, operation, filter)`
in `db.calls` and as `(operation, filter)` in its collection's `calls`, and the bulk calls
with their size in `db.batches`. Each call runs `before(op, filter)` if set, then dies
with `Crash` if it is `db.crash_at`, then yields to the event loop (so concurrent writers
interleave) and waits for its collection's `gate` if set; `after(op, filter)` runs once
its effect is made."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from pymongo import DeleteOne, InsertOne, ReplaceOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from tests.fakes.bson_order import bson_order

Doc = dict[str, Any]
Hook = Callable[[str, Doc], None]


class Crash(Exception):
    """The process died here (`FakeDatabase.crash_at`)."""


class Call(NamedTuple):
    coll: str
    op: str
    filter: Doc


class Batch(NamedTuple):
    coll: str
    op: str
    size: int
    ordered: bool


@dataclass
class Result:
    """What pymongo's UpdateResult and DeleteResult tell the services."""

    matched_count: int = 0
    modified_count: int = 0
    deleted_count: int = 0
    upserted_id: Any = None


@dataclass
class BulkResult:
    bulk_api_result: dict[str, Any]


def _kind(v: Any) -> Any:
    return ("bool" if isinstance(v, bool) else "number" if isinstance(v, int | float)
            else type(v))


def _compare(have: Any, op: str, want: Any) -> bool:
    """MongoDB's comparison: values of different kinds never match."""
    if _kind(have) != _kind(want):
        return False
    return bool(have < want if op == "$lt" else have <= want if op == "$lte"
                else have > want if op == "$gt" else have >= want)


def _lookup(doc: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """Whether a (dotted) field exists, and its value."""
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def matches(doc: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    for key, want in flt.items():
        if key == "$and":
            if not all(matches(doc, f) for f in want):
                return False
            continue
        if key == "$or":
            if not any(matches(doc, f) for f in want):
                return False
            continue
        present, have = _lookup(doc, key)
        if isinstance(want, dict) and want and all(k.startswith("$") for k in want):
            for op, arg in want.items():
                if op == "$exists":
                    ok = present == bool(arg)
                elif op == "$in":
                    ok = have in arg
                elif op in ("$lt", "$lte", "$gt", "$gte"):
                    ok = present and _compare(have, op, arg)
                else:
                    raise NotImplementedError(f"the fake has no {op}")
                if not ok:
                    return False
        elif have != want:
            return False
    return True


def _path(doc: Doc, dotted: str) -> tuple[Doc, str]:
    *parents, last = dotted.split(".")
    for p in parents:
        doc = doc.setdefault(p, {})
    return doc, last


def apply_update(doc: Doc, update: Mapping[str, Any]) -> None:
    """`$set`, `$unset`, `$max`, `$min` and `$addToSet` (with `$each`), dotted paths."""
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


def _sort_key(field: str) -> Callable[[Doc], Any]:
    return lambda doc: bson_order(_lookup(doc, field)[1])


class Cursor:
    """A `find`'s documents as they were when it was called."""

    def __init__(self, docs: list[Doc]) -> None:
        self.docs = docs

    def sort(self, key: str | Sequence[tuple[str, int]], direction: int = 1) -> Cursor:
        keys = [(key, direction)] if isinstance(key, str) else list(key)
        docs = list(self.docs)
        for field, way in reversed(keys):  # stable: the first key sorts last
            docs.sort(key=_sort_key(field), reverse=way < 0)
        return Cursor(docs)

    def limit(self, n: int) -> Cursor:
        return Cursor(self.docs[:n]) if n else self

    async def to_list(self, length: int | None = None) -> list[Doc]:
        await asyncio.sleep(0)
        return [copy.deepcopy(d) for d in self.docs[:length]]

    async def __aiter__(self) -> AsyncIterator[Doc]:
        for doc in list(self.docs):
            await asyncio.sleep(0)
            yield copy.deepcopy(doc)


class FakeCollection:
    def __init__(self, db: FakeDatabase, name: str) -> None:
        self.db, self.name = db, name
        self.docs: dict[Any, Doc] = {}
        self.calls: list[tuple[str, Doc]] = []
        self.before: Hook | None = None
        self.after: Hook | None = None
        self.gate: asyncio.Event | None = None

    def _log(self, op: str, flt: Mapping[str, Any]) -> None:
        self.calls.append((op, copy.deepcopy(dict(flt))))
        self.db.calls.append(Call(self.name, op, copy.deepcopy(dict(flt))))
        if self.before is not None:
            self.before(op, dict(flt))
        if self.db.crash_at == (self.name, op):
            self.db.crash_at = None
            raise Crash(f"{self.name}.{op}")

    async def _step(self, op: str, flt: Mapping[str, Any]) -> None:
        self._log(op, flt)
        await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate.wait()

    def _done(self, op: str, flt: Mapping[str, Any]) -> None:
        if self.after is not None:
            self.after(op, dict(flt))

    def _first(self, flt: Mapping[str, Any]) -> Doc | None:
        return next((d for d in self.docs.values() if matches(d, flt)), None)

    def _unique_clash(self, doc: Mapping[str, Any]) -> bool:
        fields = self.db.unique.get(self.name)
        return fields is not None and any(
            all(o.get(f) == doc.get(f) for f in fields) and o["_id"] != doc["_id"]
            for o in self.docs.values())

    async def find_one(self, flt: Mapping[str, Any], projection: Any = None) -> Doc | None:
        await self._step("find_one", flt)
        found = copy.deepcopy(self._first(flt))
        self._done("find_one", flt)
        return found

    def find(self, flt: Mapping[str, Any], projection: Any = None) -> Cursor:
        self._log("find", flt)
        cursor = Cursor([copy.deepcopy(d) for d in self.docs.values() if matches(d, flt)])
        self._done("find", flt)
        return cursor

    async def count_documents(self, flt: Mapping[str, Any]) -> int:
        await self._step("count_documents", flt)
        return sum(1 for d in self.docs.values() if matches(d, flt))

    async def insert_one(self, doc: Mapping[str, Any]) -> Result:
        await self._step("insert_one", {"_id": doc["_id"]})
        if doc["_id"] in self.docs or self._unique_clash(doc):
            raise DuplicateKeyError("E11000 duplicate key")
        self.docs[doc["_id"]] = copy.deepcopy(dict(doc))
        self._done("insert_one", {"_id": doc["_id"]})
        return Result(upserted_id=doc["_id"])

    async def replace_one(self, flt: Mapping[str, Any], doc: Mapping[str, Any],
                          upsert: bool = False) -> Result:
        await self._step("replace_one", flt)
        _id = flt["_id"]
        old = self.docs.get(_id)
        result = Result()
        if old is not None and matches(old, flt):
            self.docs[_id] = {**copy.deepcopy(dict(doc)), "_id": _id}
            result = Result(matched_count=1, modified_count=int(self.docs[_id] != old))
        elif upsert:
            if old is not None:
                raise DuplicateKeyError("E11000 duplicate key")
            self.docs[_id] = {**copy.deepcopy(dict(doc)), "_id": _id}
            result = Result(upserted_id=_id)
        self._done("replace_one", flt)
        return result

    async def update_one(self, flt: Mapping[str, Any], update: Mapping[str, Any],
                         upsert: bool = False) -> Result:
        await self._step("update_one", flt)
        result = self._update(flt, update, upsert)
        self._done("update_one", flt)
        return result

    def _update(self, flt: Mapping[str, Any], update: Mapping[str, Any],
                upsert: bool) -> Result:
        doc = self._first(flt)
        inserted = None
        if doc is None:
            if not upsert:
                return Result()
            if flt["_id"] in self.docs:
                raise DuplicateKeyError("E11000 duplicate key")
            doc = self.docs[flt["_id"]] = {
                "_id": flt["_id"], **copy.deepcopy(update.get("$setOnInsert", {}))}
            inserted = flt["_id"]
        before = copy.deepcopy(doc)
        apply_update(doc, update)
        return Result(matched_count=0 if inserted else 1,
                      modified_count=int(not inserted and doc != before),
                      upserted_id=inserted)

    async def delete_one(self, flt: Mapping[str, Any]) -> Result:
        await self._step("delete_one", flt)
        doc = self._first(flt)
        if doc is not None:
            del self.docs[doc["_id"]]
        self._done("delete_one", flt)
        return Result(deleted_count=int(doc is not None))

    # The many-document calls write one document at a time: a crash can fall between two.

    async def update_many(self, flt: Mapping[str, Any], update: Mapping[str, Any]) -> Result:
        ids = [d["_id"] for d in self.docs.values() if matches(d, flt)]
        self.db.batches.append(Batch(self.name, "update_many", len(ids), True))
        modified = 0
        for _id in ids:
            modified += (await self.update_one({"_id": _id}, update)).modified_count
        return Result(matched_count=len(ids), modified_count=modified)

    async def delete_many(self, flt: Mapping[str, Any]) -> Result:
        ids = [d["_id"] for d in self.docs.values() if matches(d, flt)]
        self.db.batches.append(Batch(self.name, "delete_many", len(ids), True))
        for _id in ids:
            await self.delete_one({"_id": _id})
        return Result(deleted_count=len(ids))

    async def insert_many(self, docs: Sequence[Mapping[str, Any]], ordered: bool = True
                          ) -> None:
        """Refusals reported as the server does: a BulkWriteError listing each refused
        index (after the first, an ordered insert stops)."""
        self.db.batches.append(Batch(self.name, "insert_many", len(docs), ordered))
        errors = []
        for i, doc in enumerate(docs):
            try:
                await self.insert_one(doc)
            except DuplicateKeyError:
                errors.append({"index": i, "code": 11000, "errmsg": "E11000 duplicate key"})
                if ordered:
                    break
        if errors:
            raise BulkWriteError({"writeErrors": errors})

    async def bulk_write(self, ops: Sequence[Any], ordered: bool = True) -> BulkResult:
        """InsertOne, ReplaceOne, UpdateOne and DeleteOne requests, one after another; the
        result's counts as MongoDB reports them, duplicate keys as `writeErrors`."""
        self.db.batches.append(Batch(self.name, "bulk_write", len(ops), ordered))
        modified, upserted, errors = 0, [], []
        for i, op in enumerate(ops):
            try:
                if isinstance(op, InsertOne):
                    await self.insert_one(op._doc)  # counted as inserted, not upserted
                    continue
                elif isinstance(op, DeleteOne):
                    result = await self.delete_one(op._filter)
                elif isinstance(op, ReplaceOne):
                    result = await self.replace_one(op._filter, op._doc,
                                                    upsert=bool(op._upsert))
                else:
                    result = await self.update_one(op._filter, op._doc,
                                                   upsert=bool(op._upsert))
            except DuplicateKeyError:
                errors.append({"index": i, "code": 11000, "errmsg": "E11000 duplicate key"})
                if ordered:
                    break
                continue
            modified += result.modified_count
            if result.upserted_id is not None:
                upserted.append({"index": i, "_id": result.upserted_id})
        details = {"nModified": modified, "upserted": upserted, "writeErrors": errors}
        if errors:
            raise BulkWriteError(details)
        return BulkResult(details)


class FakeDatabase:
    def __init__(self, unique: Mapping[str, tuple[str, ...]] | None = None) -> None:
        """`unique`: collection -> the fields of its unique index besides `_id`."""
        self.unique = dict(unique or {})
        self.colls: dict[str, FakeCollection] = {}
        self.calls: list[Call] = []
        self.batches: list[Batch] = []
        self.crash_at: tuple[str, str] | None = None  # (collection, operation)

    def __getitem__(self, name: str) -> FakeCollection:
        return self.colls.setdefault(name, FakeCollection(self, name))

    async def drop_collection(self, name: str) -> None:
        self[name].docs.clear()

    def scans(self) -> list[Call]:
        """The calls since the last `reset` whose filter has no `_id`."""
        return [c for c in self.calls if "_id" not in c.filter]

    def shapes(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """The calls since the last `reset` as (collection, operation, filter's fields)."""
        return [(c.coll, c.op, tuple(sorted(c.filter))) for c in self.calls]

    def reset(self) -> None:
        self.calls.clear()

    def state(self, *skip: str) -> dict[str, dict[Any, Doc]]:
        """Every collection's documents but those of `skip`."""
        return {n: c.docs for n, c in self.colls.items() if n not in skip}
