"""One write at a time per database (the local FerretDB), reads alongside; and the
bulk upserts and batched reads by `_id` that concurrent records share."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import InsertOne, ReplaceOne
from pymongo.errors import DuplicateKeyError

from services.common.mongo import BulkUpdates, BulkUpserts, BulkWrites, ByIdReads, find_by_ids
from services.common.serial import SerialWritesDatabase
from tests.fakes.mongo import FakeDatabase


class Slow:
    """A collection whose calls take a while and count how many run at once."""

    def __init__(self) -> None:
        self.running = self.most = 0
        self.name = "slow"

    async def _call(self) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.005)
        self.running -= 1

    async def update_one(self, *_: Any, **__: Any) -> None:
        await self._call()

    async def find_one(self, *_: Any, **__: Any) -> None:
        await self._call()


def test_writes_take_turns_and_reads_do_not_wait() -> None:
    slow = Slow()
    db = SerialWritesDatabase({"c": slow})
    coll = db["c"]
    asyncio.run(_gather([coll.update_one({"_id": i}, {}) for i in range(8)]))
    assert slow.most == 1 and coll.name == "slow"
    asyncio.run(_gather([coll.find_one({"_id": i}) for i in range(8)]))
    assert slow.most == 8


def test_concurrent_upserts_and_reads_by_id_are_one_call_each() -> None:
    db = FakeDatabase()

    async def go() -> list[Any]:
        writes = BulkUpserts(db["c"])
        reads = ByIdReads(db["c"])
        await writes({"_id": "warm"}, {"$set": {"n": 0}})  # a lone call goes at once
        db.reset()
        await asyncio.gather(*(writes({"_id": f"k{i}"}, {"$set": {"n": i}})
                               for i in range(20)))
        found = await asyncio.gather(*(reads.get(f"k{i}") for i in (3, 3, 7, 99)))
        return found

    found = asyncio.run(go())
    assert [d and d["n"] for d in found] == [3, 3, 7, None]
    assert found[0] is not found[1]  # each caller its own copy
    finds = [c for c in db.calls if c[1] in ("find", "find_one")]
    assert len(finds) <= 2  # the first read alone, the rest in one find with $in


async def _gather(calls: list[Any]) -> None:
    await asyncio.gather(*calls)


def test_concurrent_updates_are_one_bulk_write_and_each_caller_learns_its_outcome() -> None:
    db = FakeDatabase()
    coll = db["c"]
    def bump(n: int) -> dict[str, Any]:
        return {"$max": {"n": n}}

    async def go() -> list[list[bool | None]]:
        updates = BulkUpdates(coll)
        lone = [await updates({"_id": "k0"}, bump(1))]  # alone: one update_one, exact
        db.reset()
        new = await asyncio.gather(*(updates({"_id": f"k{i}"}, bump(1)) for i in range(5)))
        same = await asyncio.gather(*(updates({"_id": f"k{i}"}, bump(1)) for i in range(5)))
        # One changes k0, one does not change k1: the counts cannot tell which.
        mixed = await asyncio.gather(updates({"_id": "k0"}, bump(2)),
                                     updates({"_id": "k1"}, bump(0)))
        return [lone, list(new), list(same), list(mixed)]

    lone, new, same, mixed = asyncio.run(go())
    assert lone == [True]
    assert new == [False, True, True, True, True]  # k0 was there: only it is unchanged
    assert same == [False] * 5
    assert mixed == [None, None]  # one of two changed: which, the counts cannot tell
    assert coll.docs["k0"]["n"] == 2 and coll.docs["k1"]["n"] == 1
    bulks = [(b.size, b.ordered) for b in db.batches if b.op == "bulk_write"]
    assert bulks == [(5, False), (5, False), (2, False)]  # one unordered write a wave


def test_reads_of_many_ids_go_in_chunks_of_in() -> None:
    db = FakeDatabase()
    coll = db["c"]
    for i in range(1200):
        coll.docs[f"k{i}"] = {"_id": f"k{i}", "n": i}
    found = asyncio.run(find_by_ids(coll, [f"k{i}" for i in range(1300)]))
    assert len(found) == 1200 and found["k7"]["n"] == 7
    assert [c[1] for c in db.calls] == ["find", "find", "find"]  # 500 ids a read


def test_concurrent_inserts_and_replacements_are_one_bulk_write_a_taken_id_fails_alone(
) -> None:
    db = FakeDatabase()
    coll = db["c"]
    coll.docs["taken"] = {"_id": "taken", "n": 0}
    async def go() -> list[Any]:
        writes = BulkWrites(coll)
        return await asyncio.gather(
            writes(InsertOne({"_id": "a", "n": 1})), writes(InsertOne({"_id": "taken"})),
            writes(ReplaceOne({"_id": "b"}, {"_id": "b", "n": 2}, upsert=True)),
            return_exceptions=True)

    results = asyncio.run(go())
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], DuplicateKeyError)
    assert [b.size for b in db.batches if b.op == "bulk_write"] == [3]
    assert coll.docs["a"]["n"] == 1 and coll.docs["b"]["n"] == 2 and coll.docs["taken"]["n"] == 0
