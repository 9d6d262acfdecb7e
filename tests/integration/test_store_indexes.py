"""The stack's MongoDB-wire server answers every call by `_id` through its index: the
project's FerretDB build (deploy/ferretdb/patches) queries with the `_id` index's own
expression, closes each update statement's read and pushes `_id` equalities and `_id`
`$in` lists down to SQL. Checked on the real server: the cost at 20,000 stored
documents against 100, the plans SQLite chooses, the answers of `$in` on `_id` (the
same as MongoDB's whatever the values' types), and a `bulk_write` larger than SQLite's
connection pool."""

from __future__ import annotations

import struct
from typing import Any

import bson
import pytest
from bson import Int64, ObjectId, Regex
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from bench import idcost
from tests.stackfixture import Stack

pytestmark = pytest.mark.integration


def test_id_calls_cost_the_same_at_20000_documents_as_at_100(stack: Stack) -> None:
    cost = idcost.compare(stack.cfg.mongo_url, "test_id_cost", small=100, large=20_000,
                          repeats=40)
    # A scan costs ~25-70x at this size (docs/adr/0002); an index lookup about 1x. The
    # two sizes are probed in turns and the medians compared, so machine noise cancels.
    slow = {op: round(cost.ratio(op), 2) for op in idcost.OPERATIONS if cost.ratio(op) > 2}
    assert not slow, f"_id calls slower at 20,000 documents than at 100: {slow}, " \
                     f"medians in ms (100, 20,000): {cost.median_ms}"


def test_sqlite_plans_search_the_id_index(stack: Stack) -> None:
    db_name, coll = "test_id_plans", "scores"
    client: MongoClient[dict[str, object]] = MongoClient(stack.cfg.mongo_url)
    try:
        idcost.fill(client[db_name][coll], 500)
        # FerretDB's explain reports the plan SQLite made for the query it really runs,
        # for `_id` alone and for `_id` with another condition (patch 0003)
        for filter_ in ({"_id": idcost.key(7)},
                        {"_id": idcost.key(7), "revision": {"$lt": 5}, "period": 2026}):
            server = idcost.server_plan(stack.cfg.mongo_url, db_name, coll, filter_)
            assert "USING INDEX" in server and "SCAN" not in server, (filter_, server)
            found = client[db_name][coll].find_one(filter_)
            assert found is not None and found["_id"] == idcost.key(7)
        # the other conditions still apply to the row the index found
        assert client[db_name][coll].find_one({"_id": idcost.key(7), "period": 1999}) is None
        plans = idcost.sqlite_plans(stack.cfg.data / "ferretdb", db_name, coll)
    finally:
        client.drop_database(db_name)
        client.close()
    assert '_ferretdb_sjson->"_id"' in plans["index"], plans["index"]
    for what in ("select", "update", "delete"):
        assert "USING INDEX" in plans[what] and "SCAN" not in plans[what], (what, plans)


def test_an_id_in_is_read_from_the_id_index(stack: Stack) -> None:
    db_name, coll = "test_id_in_plans", "scores"
    client: MongoClient[dict[str, Any]] = MongoClient(stack.cfg.mongo_url)
    url = stack.cfg.mongo_url
    keys = [idcost.key(i) for i in (7, 9, 400)]
    try:
        c = client[db_name][coll]
        idcost.fill(c, 500)

        def ids(filter_: dict[str, Any]) -> list[str]:
            return sorted(d["_id"] for d in c.find(filter_))

        # patch 0004: `IDColumn IN (?, ...)`, alone and among other conditions; missing
        # and repeated values change nothing
        for filter_ in ({"_id": {"$in": keys}},
                        {"_id": {"$in": [*keys, "missing", keys[0]]}, "revision": {"$lt": 5},
                         "period": 2026},
                        {"_id": {"$in": [idcost.key(i) for i in range(32_000)]}}):
            pushed, plan = idcost.server_explain(url, db_name, coll, filter_)
            assert pushed and "USING INDEX" in plan and "SCAN" not in plan, (filter_, plan)
        assert ids({"_id": {"$in": keys}}) == keys
        assert ids({"_id": {"$in": [*keys, "missing", keys[0]]}, "revision": {"$lt": 5},
                    "period": 2026}) == keys
        assert ids({"_id": {"$in": keys}, "period": 1999}) == []
        assert len(ids({"_id": {"$in": [idcost.key(i) for i in range(32_000)]}})) == 500

        # left to FerretDB's own filter (every document read), and still answered:
        # a value the equality pushdown does not push (a number, a regex), another
        # operator beside `$in`, more values than SQLite's parameters allow
        kept = {
            "number": ({"_id": {"$in": [keys[0], 7]}}, keys[:1]),
            "regex": ({"_id": {"$in": [keys[0], Regex("^province:p00000[89]")]}},
                      [keys[0], idcost.key(8), keys[1]]),
            "$ne": ({"_id": {"$in": keys, "$ne": keys[0]}}, keys[1:]),
            "32,001": ({"_id": {"$in": [idcost.key(i) for i in range(32_001)]}},
                       sorted(idcost.key(i) for i in range(500))),
        }
        for what, (filter_, expected) in kept.items():
            pushed, plan = idcost.server_explain(url, db_name, coll, filter_)
            assert not pushed and "SCAN" in plan, (what, plan)
            assert ids(filter_) == expected, what
    finally:
        client.drop_database(db_name)
        client.close()


def _id_set(docs: Any) -> list[str]:
    # repr keeps the number types apart: 1, 2.0 and Int64(3)
    return sorted(repr(d["_id"]) for d in docs)


def test_an_id_in_answers_as_mongodb_does(stack: Stack) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(stack.cfg.mongo_url)
    db_name = "test_id_in_answers"
    oid = ObjectId()
    odd = "é\u2028😀\"\\ <&>"  # escaped differently by JSON encoders
    stored: list[Any] = ["a", "b", "", odd, oid, 1, 2.0, Int64(3), {"x": 1}]
    try:
        c = client[db_name]["mixed"]
        c.insert_many([{"_id": v, "v": i} for i, v in enumerate(stored)])

        def same(values: list[Any], expected: list[Any], pushed: bool) -> None:
            filter_ = {"_id": {"$in": values}}
            assert _id_set(c.find(filter_)) == _id_set({"_id": v} for v in expected), values
            explained = idcost.server_explain(stack.cfg.mongo_url, db_name, "mixed", filter_)
            assert explained[0] is pushed, (values, explained)

        same(["a", "zz", "a"], ["a"], True)  # missing and repeated values
        same([oid, "b", ObjectId()], [oid, "b"], True)
        same(["", odd, "1"], ["", odd], True)  # "1" is not 1
        same([], [], True)
        # numbers are equal across types (1 == 1.0 == Int64(1)): not pushed down
        same([1.0, 2, Int64(3)], [1, 2.0, Int64(3)], False)
        same([Int64(1), "a"], [1, "a"], False)
        same([{"x": 1}, "b"], [{"x": 1}, "b"], False)
        same([None], [], False)

        # the same filters in writes (the handlers query through the same code)
        assert c.update_many({"_id": {"$in": ["a", oid, "zz"]}},
                             {"$set": {"u": 1}}).matched_count == 2
        assert _id_set(c.find({"u": 1})) == _id_set([{"_id": "a"}, {"_id": oid}])
        assert c.delete_many({"_id": {"$in": ["b", odd, "zz", "b"]}}).deleted_count == 2
        assert c.delete_many({"_id": {"$in": [2, Int64(1)]}}).deleted_count == 2
        assert _id_set(c.find({})) == _id_set({"_id": v} for v in ["a", "", oid, Int64(3),
                                                                  {"x": 1}])

        # a filter with `_id` twice dropped the connection (patch 0003 read it with
        # Document.Get, which panics on a duplicated key); now no pushdown, no match
        elements = b"".join(bson.encode(part)[4:-1] for part in
                            ({"_id": "a"}, {"_id": ""}, {"v": 0}))
        twice = RawBSONDocument(struct.pack("<i", len(elements) + 5) + elements + b"\0")
        assert list(c.find(twice)) == []
        assert c.count_documents({}) == 5
    finally:
        client.drop_database(db_name)
        client.close()


@pytest.mark.parametrize("new", [False, True], ids=["existing", "new"])
def test_a_bulk_write_of_500_upserts_returns(stack: Stack, new: bool) -> None:
    # FerretDB 1.24 as released held every statement's read until the command ended and
    # waited forever for a 101st pooled connection (patch 0002); the socket timeout of
    # 60 s would fail this test instead of hanging it.
    seconds = idcost.bulk_upserts(stack.cfg.mongo_url, "test_bulk_upserts", 500, new=new)
    assert seconds < 30, f"500 upserts and 500 replaces took {seconds:.1f} s"
