"""What one call by `_id` costs on the MongoDB-wire server as a collection grows: the
store benchmark's table-size phase and the index integration test share it.

Two collections of the same documents, a small one and a large one, are probed in
turns (small, large, small, ...) so that a noisy neighbour slows both alike; each
figure is the median of many calls. A server that answers `_id` calls through an index
costs the same at both sizes; one that scans (FerretDB 1.24 as released) costs in
proportion to the documents stored.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import MongoClient, ReplaceOne, UpdateOne
from pymongo.collection import Collection

OPERATIONS = ("find_one", "update_one", "upsert_new", "replace_one", "delete_insert",
              "find_one_and", "update_if", "find_in")
# `find_one_and` and `update_if` filter on `_id` and another condition (a conditional
# write such as reporting's "newer than what is stored" or a ledger claim's owner
# check); `find_in` reads a batch of IN_BATCH stored documents in one call,
# `{_id: {$in: [...]}}` (FerretDB patch 0004)
IN_BATCH = 100
PAD = "x" * 900  # documents of about 1 KB, the size of a reporting read-model entry


def doc(key: str, i: int) -> dict[str, Any]:
    return {"_id": key, "unit_id": key.split("|")[0], "period": 2026, "total": i % 97,
            "revision": 1, "pad": PAD}


def key(i: int) -> str:
    return f"province:p{i:06d}|2026"


def fill(coll: Collection[Any], n: int, batch: int = 2000) -> None:
    """`n` documents with keys key(0)..key(n-1), in insert_many batches."""
    coll.drop()
    for start in range(0, n, batch):
        coll.insert_many([doc(key(i), i) for i in range(start, min(n, start + batch))],
                         ordered=False)


def _calls(coll: Collection[Any], n: int, rng: random.Random
           ) -> dict[str, Callable[[], object]]:
    """One call of each operation on a random stored document (or a new one)."""
    def some() -> str:
        return key(rng.randrange(n))

    def batch() -> list[str]:
        return [key(i) for i in rng.sample(range(n), min(n, IN_BATCH))]

    def delete_insert() -> None:
        k = some()
        coll.delete_one({"_id": k})
        coll.insert_one(doc(k, 0))

    return {
        "find_one": lambda: coll.find_one({"_id": some()}),
        "update_one": lambda: coll.update_one(
            {"_id": some()}, {"$max": {"revision": rng.randrange(2, 10**6)}}, upsert=True),
        "upsert_new": lambda: coll.update_one(
            {"_id": f"new:{rng.getrandbits(64):x}"}, {"$setOnInsert": {"pad": PAD}},
            upsert=True),
        "replace_one": lambda: coll.replace_one({"_id": (k := some())}, doc(k, 1)),
        "delete_insert": delete_insert,
        "find_one_and": lambda: coll.find_one({"_id": some(), "period": 2026}),
        "update_if": lambda: coll.update_one(
            {"_id": some(), "revision": {"$lt": 10**9}},
            {"$set": {"total": rng.randrange(100)}}),
        "find_in": lambda: list(coll.find({"_id": {"$in": batch()}})),
    }


@dataclass
class SizeCost:
    small: int
    large: int
    median_ms: dict[str, tuple[float, float]]  # operation -> (at small, at large)
    scan_ms: tuple[float, float]  # a find that no `_id` answers, at small and at large

    def ratio(self, operation: str) -> float:
        small, large = self.median_ms[operation]
        return large / small if small > 0 else float("inf")


def compare(url: str, db_name: str, small: int, large: int, repeats: int = 40,
            seed: int = 7) -> SizeCost:
    """Median cost of each operation by `_id` at `small` and at `large` documents."""
    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=5000,
                                                      socketTimeoutMS=60_000)
    try:
        db = client[db_name]
        colls = {small: db["small"], large: db["large"]}
        for n, coll in colls.items():
            fill(coll, n)
        rng = random.Random(seed)
        calls = {n: _calls(coll, n, rng) for n, coll in colls.items()}
        times: dict[tuple[str, int], list[float]] = {}
        for operation in OPERATIONS:
            for n in colls:  # one warm call each, not counted
                calls[n][operation]()
            for _ in range(repeats):
                for n in colls:
                    started = time.perf_counter()
                    calls[n][operation]()
                    times.setdefault((operation, n), []).append(time.perf_counter() - started)
        scans: dict[int, list[float]] = {}
        for _ in range(5):
            for n, coll in colls.items():
                started = time.perf_counter()
                coll.find_one({"no_such_field": 1})
                scans.setdefault(n, []).append(time.perf_counter() - started)
        return SizeCost(small, large, {
            op: (statistics.median(times[(op, small)]) * 1000,
                 statistics.median(times[(op, large)]) * 1000) for op in OPERATIONS},
            (statistics.median(scans[small]) * 1000, statistics.median(scans[large]) * 1000))
    finally:
        client.drop_database(db_name)
        client.close()


def bulk_upserts(url: str, db_name: str, n: int, new: bool) -> float:
    """Seconds for one unordered bulk_write of `n` `$max` upserts by `_id`, on
    documents that exist (`new` False) or not. FerretDB 1.24 as released never
    answered one with more than ~100 statements that matched a document."""
    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=5000,
                                                      socketTimeoutMS=60_000)
    try:
        coll = client[db_name]["bulk"]
        fill(coll, n)
        prefix = "new:" if new else ""
        ops = [UpdateOne({"_id": prefix + key(i)}, {"$max": {"revision": 2}}, upsert=True)
               for i in range(n)]
        started = time.perf_counter()
        coll.bulk_write(ops, ordered=False)
        ops2 = [ReplaceOne({"_id": key(i)}, doc(key(i), 3), upsert=True) for i in range(n)]
        coll.bulk_write(ops2, ordered=False)
        return time.perf_counter() - started
    finally:
        client.drop_database(db_name)
        client.close()


def sqlite_plans(data_dir: Path, db_name: str, collection: str) -> dict[str, str]:
    """EXPLAIN QUERY PLAN, on FerretDB's own SQLite file, of a read, an update and a
    delete by `_id` written with the expression of the table's own `_id` index (the
    expression the project's FerretDB build queries with). Read-only."""
    uri = f"file:{data_dir / (db_name + '.sqlite')}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        row = conn.execute("SELECT table_name FROM _ferretdb_collections WHERE name = ?",
                           (collection,)).fetchone()
        assert row is not None, f"no collection {collection} in {db_name}"
        table = row[0]
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND "
                           "tbl_name = ? AND name LIKE '%\\__id\\_' ESCAPE '\\'",
                           (table,)).fetchone()[0]
        expression = sql[sql.index("(") + 1:sql.rindex(")")]
        statements = {
            "select": f'SELECT _ferretdb_sjson FROM "{table}" WHERE {expression} = ?',
            "update": f'UPDATE "{table}" SET _ferretdb_sjson = ? WHERE {expression} = ?',
            "delete": f'DELETE FROM "{table}" WHERE {expression} IN (?)',
        }
        return {what: " | ".join(str(r[-1]) for r in conn.execute(
                    "EXPLAIN QUERY PLAN " + q, ("x",) * q.count("?")))
                for what, q in statements.items()} | {"index": sql}


def server_explain(url: str, db_name: str, collection: str, filter_: dict[str, Any]
                   ) -> tuple[bool, str]:
    """FerretDB's `explain` of a find: whether the backend pushed (part of) the filter
    down to SQL, and the SQLite plan of the query it runs."""
    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        out = client[db_name].command("explain", {"find": collection, "filter": filter_})
        plan = " | ".join(map(str, out.get("queryPlanner", {}).get("Plan", [])))
        return bool(out.get("filterPushdown")), plan
    finally:
        client.close()


def server_plan(url: str, db_name: str, collection: str, filter_: dict[str, Any]) -> str:
    """FerretDB's `explain` of a find: the SQLite plan of the query it runs."""
    return server_explain(url, db_name, collection, filter_)[1]
