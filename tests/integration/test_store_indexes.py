"""The stack's MongoDB-wire server answers every call by `_id` through its index: the
project's FerretDB build (deploy/ferretdb/patches) queries with the `_id` index's own
expression and closes each update statement's read. Checked on the real server: the
cost at 20,000 stored documents against 100, the plans SQLite chooses, and a
`bulk_write` larger than SQLite's connection pool."""

from __future__ import annotations

import pytest
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


@pytest.mark.parametrize("new", [False, True], ids=["existing", "new"])
def test_a_bulk_write_of_500_upserts_returns(stack: Stack, new: bool) -> None:
    # FerretDB 1.24 as released held every statement's read until the command ended and
    # waited forever for a 101st pooled connection (patch 0002); the socket timeout of
    # 60 s would fail this test instead of hanging it.
    seconds = idcost.bulk_upserts(stack.cfg.mongo_url, "test_bulk_upserts", 500, new=new)
    assert seconds < 30, f"500 upserts and 500 replaces took {seconds:.1f} s"
