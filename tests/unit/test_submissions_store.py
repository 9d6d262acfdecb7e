"""The intake's storage protocol over an in-memory database that behaves like the local
FerretDB where it matters (per-document atomic writes, unique `_id` and unique
(unit_id, idempotency_key)): replays and revisions found by `_id`, the outbox relay reading
only the outbox, crashes between any two writes losing and blocking nothing, concurrent
requests never sharing a revision, and the backfill of data stored before."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import DeleteOne, ReplaceOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.common.clock import ControlledClock
from services.common.kafka import KafkaUnavailable
from services.submissions import domain
from services.submissions.registry import load_registry
from services.submissions.service import ORPHAN_SECONDS, Intake, Unavailable
from services.submissions.store import BACKFILL_MARKER, SubmissionStore

ROOT = Path(__file__).resolve().parents[2]
UNIQUE = {"submissions": ("unit_id", "idempotency_key")}
REGISTRY = load_registry()


class Crash(Exception):
    """The process died here."""


def _matches(doc: dict[str, Any], flt: dict[str, Any]) -> bool:
    return all(doc.get(k) in v["$in"] if isinstance(v, dict) and "$in" in v
               else doc.get(k) == v for k, v in flt.items())


class FakeCursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def sort(self, field: str, direction: int) -> FakeCursor:
        return FakeCursor(sorted(self.docs, key=lambda d: d[field], reverse=direction < 0))

    def limit(self, n: int) -> FakeCursor:
        return FakeCursor(self.docs[:n])

    async def to_list(self, n: int | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(d) for d in self.docs[:n]]


class FakeCollection:
    def __init__(self, db: FakeDatabase, name: str) -> None:
        self.db, self.name = db, name
        self.docs: dict[str, dict[str, Any]] = {}

    async def _step(self, op: str, flt: dict[str, Any]) -> None:
        # Every call yields (other requests interleave) and is recorded by filter shape.
        self.db.calls.append((self.name, op, tuple(sorted(flt))))
        if self.db.crash_at == (self.name, op):
            self.db.crash_at = None
            raise Crash(f"{self.name}.{op}")
        await asyncio.sleep(0)

    def _unique_clash(self, doc: dict[str, Any]) -> bool:
        fields = UNIQUE.get(self.name)
        return fields is not None and any(
            all(o.get(f) == doc.get(f) for f in fields) and o["_id"] != doc["_id"]
            for o in self.docs.values())

    async def find_one(self, flt: dict[str, Any]) -> dict[str, Any] | None:
        await self._step("find_one", flt)
        found = next((d for d in self.docs.values() if _matches(d, flt)), None)
        return copy.deepcopy(found)

    def find(self, flt: dict[str, Any], projection: Any = None) -> FakeCursor:
        self.db.calls.append((self.name, "find", tuple(sorted(flt))))
        return FakeCursor([d for d in self.docs.values() if _matches(d, flt)])

    async def insert_one(self, doc: dict[str, Any]) -> None:
        await self._step("insert_one", {"_id": 1})
        if doc["_id"] in self.docs or self._unique_clash(doc):
            raise DuplicateKeyError("E11000 duplicate key")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def update_one(self, flt: dict[str, Any], update: dict[str, Any],
                         upsert: bool = False) -> None:
        await self._step("update_one", flt)
        doc = next((d for d in self.docs.values() if _matches(d, flt)), None)
        if doc is None:
            if not upsert:
                return
            doc = {"_id": flt["_id"], **update.get("$setOnInsert", {}),
                   **update.get("$max", {})}
            self.docs[doc["_id"]] = doc
        doc.update(copy.deepcopy(update.get("$set", {})))
        for k, v in update.get("$max", {}).items():
            doc[k] = max(doc.get(k, v), v)

    async def replace_one(self, flt: dict[str, Any], doc: dict[str, Any],
                          upsert: bool = False) -> None:
        await self._step("replace_one", flt)
        if flt["_id"] in self.docs or upsert:
            self.docs[flt["_id"]] = copy.deepcopy(doc)

    async def delete_one(self, flt: dict[str, Any]) -> None:
        await self._step("delete_one", flt)
        doc = next((d for d in self.docs.values() if _matches(d, flt)), None)
        if doc is not None:
            del self.docs[doc["_id"]]

    async def update_many(self, flt: dict[str, Any], update: dict[str, Any]) -> None:
        """One document at a time (a crash can fall between two)."""
        ids = [d["_id"] for d in self.docs.values() if _matches(d, flt)]
        self.db.batches.append((self.name, "update_many", len(ids)))
        for _id in ids:
            await self.update_one({"_id": _id}, update)

    async def delete_many(self, flt: dict[str, Any]) -> None:
        ids = [d["_id"] for d in self.docs.values() if _matches(d, flt)]
        self.db.batches.append((self.name, "delete_many", len(ids)))
        for _id in ids:
            await self.delete_one({"_id": _id})

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> None:
        """One document at a time (a crash can fall between two), refusals reported as
        the server does: a BulkWriteError listing each refused index."""
        self.db.batches.append((self.name, "insert_many", len(docs)))
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

    async def bulk_write(self, ops: list[Any], ordered: bool = True) -> None:
        self.db.batches.append((self.name, "bulk_write", len(ops)))
        for op in ops:
            if isinstance(op, DeleteOne):
                await self.delete_one(op._filter)
            elif isinstance(op, ReplaceOne):
                await self.replace_one(op._filter, op._doc, upsert=bool(op._upsert))
            else:
                await self.update_one(op._filter, op._doc, upsert=bool(op._upsert))


class FakeDatabase:
    def __init__(self) -> None:
        self.colls: dict[str, FakeCollection] = {}
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []
        self.crash_at: tuple[str, str] | None = None
        self.batches: list[tuple[str, str, int]] = []  # (collection, bulk call, size)

    def __getitem__(self, name: str) -> FakeCollection:
        return self.colls.setdefault(name, FakeCollection(self, name))


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.down = False

    async def send_nowait(self, topic: str, event: Any, key: str | None = None
                          ) -> asyncio.Future[Any]:
        if self.down:
            raise KafkaUnavailable("down")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        self.sent.append(event.id)
        return fut

    async def confirm(self, topic: str, fut: asyncio.Future[Any]) -> None:
        await fut

    async def send(self, topic: str, event: Any, key: str | None = None) -> None:
        await (await self.send_nowait(topic, event, key))


def request(unit: str = "province:quang-ninh", period: int = 2026, notes: str = "a"
            ) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        (ROOT / "schemas/examples/submission-request.json").read_text("utf-8"))
    body.update(unit_id=unit, period=period, notes=notes)
    return body


def intake(db: FakeDatabase, producer: FakeProducer | None = None) -> Intake:
    """A fresh process on the same database."""
    clock = ControlledClock()
    clock.set(datetime(2026, 11, 20, 9, tzinfo=UTC))
    return Intake(store=SubmissionStore(db), producer=producer or FakeProducer(),  # type: ignore[arg-type]
                  registry=REGISTRY, clock=clock)


def sid(revision: int) -> str:
    return domain.submission_id("province:quang-ninh", 2026, revision)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def submissions(db: FakeDatabase) -> list[dict[str, Any]]:
    return sorted(db["submissions"].docs.values(), key=lambda d: d["_id"])


def all_published(db: FakeDatabase) -> bool:
    """Every submission on Kafka as the store says: out of the outbox (or marked by an
    older version)."""
    return all(d.get("published") or d["_id"] not in db["outbox"].docs
               for d in submissions(db))


# The write made after the answer: the mark as published, the outbox removal.
AFTER_ANSWER = (("outbox", "delete_one"),)


async def submit_and_settle(service: Intake, body: dict[str, Any], key: str) -> Any:
    """A request's answer, once its marks made after the answer are done too."""
    outcome = await service.submit(body, key)
    await service.settled()
    return outcome


def test_a_new_submission_and_its_replay_use_only_id_lookups() -> None:
    db = FakeDatabase()
    service = intake(db)
    first = run(service.submit(request(), "k1"))
    db.calls.clear()
    again = run(service.submit(request(), "k1"))
    assert again.replayed and again.receipt == first.receipt
    assert {shape for _, _, shape in db.calls} == {("_id",)}
    db.calls.clear()
    second = run(service.submit(request(notes="b"), "k2"))
    assert second.receipt.revision == 2
    assert second.receipt.supersedes == first.receipt.submission_id
    assert {shape for _, _, shape in db.calls} == {("_id",)}
    assert db["submission_heads"].docs["province:quang-ninh|2026"]["revision"] == 2
    assert db["outbox"].docs == {}
    assert all_published(db)


def test_same_key_with_another_body_conflicts() -> None:
    db = FakeDatabase()
    service = intake(db)
    run(service.submit(request(), "k1"))
    with pytest.raises(Exception) as refused:
        run(service.submit(request(notes="other"), "k1"))
    assert getattr(refused.value, "code", "") == "idempotency-key-reused"


def test_concurrent_identical_requests_make_one_revision() -> None:
    db = FakeDatabase()
    service = intake(db)

    async def both() -> list[Any]:
        return list(await asyncio.gather(*(service.submit(request(), "same")
                                           for _ in range(4))))

    outcomes = run(both())
    assert len(submissions(db)) == 1
    assert {o.receipt.submission_id for o in outcomes} == {sid(1)}
    assert sorted(o.replayed for o in outcomes) == [False, True, True, True]


def test_concurrent_amendments_never_share_or_lose_a_revision() -> None:
    db = FakeDatabase()
    service = intake(db)

    async def many() -> list[Any]:
        return list(await asyncio.gather(*(service.submit(request(notes=str(i)), f"k{i}")
                                           for i in range(6))))

    outcomes = run(many())
    assert sorted(o.receipt.revision for o in outcomes) == [1, 2, 3, 4, 5, 6]
    assert [d["revision"] for d in submissions(db)] == [1, 2, 3, 4, 5, 6]
    assert db["submission_heads"].docs["province:quang-ninh|2026"]["revision"] == 6
    assert {d["idempotency_key"] for d in submissions(db)} == {f"k{i}" for i in range(6)}


@pytest.mark.parametrize("crash_at", [
    ("outbox", "insert_one"),  # outbox entry written, nothing else
    ("submissions", "insert_one"),  # died before the submission
    ("submission_keys", "insert_one"),  # stored, no pointer, no head, not published
    ("submission_heads", "insert_one"),  # stored with its pointer, head lagging
    ("outbox", "delete_one"),  # answered (on Kafka), entry left behind: not marked
])
def test_a_crash_between_any_two_writes_loses_and_blocks_nothing(
        crash_at: tuple[str, str]) -> None:
    db = FakeDatabase()
    producer = FakeProducer()
    run(intake(db, producer).submit(request(notes="first"), "k0"))
    db.crash_at = crash_at
    crashed = intake(db, producer)
    if crash_at in AFTER_ANSWER:  # the 202 went out; the process dies marking it
        answered = run(submit_and_settle(crashed, request(), "k1"))
        assert answered.receipt.revision == 2 and db.crash_at is None
    else:
        with pytest.raises(Crash):
            run(crashed.submit(request(), "k1"))
    # The client retries with its key, and another amendment comes, in a new process.
    after = intake(db, producer)
    retried = run(after.submit(request(), "k1"))
    other = run(after.submit(request(notes="next"), "k2"))
    assert retried.receipt.revision == 2 and other.receipt.revision == 3
    assert [d["idempotency_key"] for d in submissions(db)] == ["k0", "k1", "k2"]
    assert db["submission_heads"].docs["province:quang-ninh|2026"]["revision"] == 3
    assert run(after.submit(request(), "k1")).receipt == retried.receipt
    # Whatever the relay finds it publishes or drops; in the end nothing is pending.
    _age_outbox(db, ORPHAN_SECONDS + 1)
    run(after.relay_once(grace_seconds=5))
    assert all_published(db)
    assert db["outbox"].docs == {}
    assert set(producer.sent) >= {d["_id"] for d in submissions(db)}


def test_a_stored_submission_kafka_refused_is_published_by_the_relay() -> None:
    db = FakeDatabase()
    producer = FakeProducer()
    producer.down = True
    service = intake(db, producer)
    with pytest.raises(Unavailable):
        run(service.submit(request(), "k1"))
    assert list(db["outbox"].docs) == [sid(1)]
    assert run(service.relay_once(grace_seconds=5)) == 0  # too young: its writer may retry
    producer.down = False
    _age_outbox(db, 10)
    db.calls.clear()
    assert run(service.relay_once(grace_seconds=5)) == 1
    assert producer.sent == [sid(1)]
    assert db["outbox"].docs == {} and all_published(db)
    assert ("submissions", "find", ()) not in db.calls
    assert {c for c in db.calls if c[1] == "find"} == {("outbox", "find", ())}


def test_the_relay_drops_an_old_orphan_entry_but_not_a_refreshed_one() -> None:
    db = FakeDatabase()
    service = intake(db)
    old = datetime.now(UTC) - timedelta(seconds=ORPHAN_SECONDS + 5)
    db["outbox"].docs["u.r1"] = {"_id": "u.r1", "unit_id": "u", "stored_at": old}
    db["outbox"].docs["u.r2"] = {"_id": "u.r2", "unit_id": "u",
                                      "stored_at": datetime.now(UTC) - timedelta(seconds=30)}
    original = db["outbox"].find

    def refreshed_meanwhile(flt: dict[str, Any], projection: Any = None) -> FakeCursor:
        cursor = original(flt, projection)
        db["outbox"].docs["u.r1"] = {"_id": "u.r1", "unit_id": "u",
                                          "stored_at": datetime.now(UTC)}
        return cursor

    db["outbox"].find = refreshed_meanwhile  # type: ignore[method-assign]
    run(service.relay_once(grace_seconds=5))
    assert set(db["outbox"].docs) == {"u.r1", "u.r2"}
    db["outbox"].find = original  # type: ignore[method-assign]
    _age_outbox(db, ORPHAN_SECONDS + 1)
    run(service.relay_once(grace_seconds=5))
    assert db["outbox"].docs == {}


def test_submissions_stored_before_are_backfilled_once() -> None:
    db = FakeDatabase()
    producer = FakeProducer()
    run(intake(db, producer).submit(request(notes="1"), "old1"))
    run(intake(db, producer).submit(request(notes="2"), "old2"))
    # As an older version left them: no pointers, heads, outbox or marker; one unpublished.
    for name in ("submission_keys", "submission_heads", "outbox", "submission_markers"):
        db[name].docs.clear()
    db["submissions"].docs[sid(1)]["published"] = True  # older versions marked it so
    db["submissions"].docs[sid(2)]["published"] = False
    stored_at = datetime.now(UTC) - timedelta(minutes=5)
    db["submissions"].docs[sid(2)]["stored_at"] = stored_at
    producer.sent.clear()
    service = intake(db, producer)
    assert run(service.relay_once(grace_seconds=5)) == 1
    assert producer.sent == [sid(2)]
    assert db["submission_markers"].docs[BACKFILL_MARKER]["submissions"] == 2
    db.calls.clear()
    replay = run(service.submit(request(notes="1"), "old1"))
    assert replay.replayed and replay.receipt.revision == 1
    assert run(service.submit(request(notes="3"), "new")).receipt.revision == 3
    assert {shape for _, _, shape in db.calls} == {("_id",)}
    # A new process reads the marker, not the submissions.
    db.calls.clear()
    run(intake(db, producer).relay_once(grace_seconds=5))
    assert ("submissions", "find", ()) not in db.calls


def test_a_key_whose_pointer_is_missing_is_found_through_the_unique_index() -> None:
    db = FakeDatabase()
    service = intake(db)
    first = run(service.submit(request(), "k1"))
    run(service.submit(request(notes="b"), "k2"))
    db["submission_keys"].docs.clear()  # as if an older version stored them
    again = run(service.submit(request(), "k1"))
    assert again.replayed and again.receipt == first.receipt
    assert len(submissions(db)) == 2
    assert "province:quang-ninh|k1" in db["submission_keys"].docs


def test_on_time_and_supersedes_come_from_the_head() -> None:
    db = FakeDatabase()
    service = intake(db)
    first = run(service.submit(request(), "k1"))
    assert first.receipt.on_time
    service.clock.set(datetime(2026, 12, 5, tzinfo=UTC))  # type: ignore[attr-defined]
    head = db["submission_heads"].docs["province:quang-ninh|2026"]
    assert head == {"_id": "province:quang-ninh|2026", "unit_id": "province:quang-ninh",
                    "period": 2026, "revision": 1, "on_time": True}
    with pytest.raises(Exception) as refused:  # after the deadline an amendment needs unlock
        run(service.submit(request(notes="late"), "k2"))
    assert getattr(refused.value, "status", 0) == 409
    assert sid(1) == first.receipt.submission_id


def _age_outbox(db: FakeDatabase, seconds: float) -> None:
    for entry in db["outbox"].docs.values():
        entry["stored_at"] = entry["stored_at"] - timedelta(seconds=seconds)


def test_without_a_key_an_earlier_body_sent_again_is_a_new_revision() -> None:
    db = FakeDatabase()
    service = intake(db)
    a, b = request(notes="a"), request(notes="b")
    first = run(service.submit(a, None))
    retry = run(service.submit(a, None))
    assert retry.replayed and retry.receipt == first.receipt  # a retry is deduplicated
    assert run(service.submit(b, None)).receipt.revision == 2
    third = run(service.submit(a, None))
    assert not third.replayed and third.receipt.revision == 3  # A, B, A: A is in force
    assert third.receipt.supersedes == sid(2)
    again = run(service.submit(a, None))
    assert again.replayed and again.receipt == third.receipt
    assert [d["content"]["notes"] for d in submissions(db)] == ["a", "b", "a"]
    assert db["submission_heads"].docs["province:quang-ninh|2026"]["revision"] == 3


def test_without_a_key_concurrent_identical_requests_make_one_revision() -> None:
    db = FakeDatabase()
    service = intake(db)
    run(service.submit(request(notes="a"), None))
    run(service.submit(request(notes="b"), None))

    async def both() -> list[Any]:
        return list(await asyncio.gather(*(service.submit(request(notes="a"), None)
                                           for _ in range(4))))

    outcomes = run(both())
    assert {o.receipt.submission_id for o in outcomes} == {sid(3)}
    assert len(submissions(db)) == 3


def test_without_a_key_a_lagging_head_is_raised_before_deciding() -> None:
    db = FakeDatabase()
    service = intake(db)
    run(service.submit(request(notes="a"), None))
    run(service.submit(request(notes="b"), None))
    # A crash before the head was raised: the head still says revision 1 (body A).
    db["submission_heads"].docs["province:quang-ninh|2026"]["revision"] = 1
    third = run(service.submit(request(notes="a"), None))
    assert not third.replayed and third.receipt.revision == 3


def test_a_body_stored_under_the_former_keyless_key_is_still_its_retry() -> None:
    db = FakeDatabase()
    service = intake(db)
    former_key = f"content:{domain.content_hash(request(notes='a'))}"
    first = run(service.submit(request(notes="a"), former_key))
    retry = run(service.submit(request(notes="a"), None))
    assert retry.replayed and retry.receipt == first.receipt


def test_a_submission_belongs_to_its_units_movement_and_another_is_refused() -> None:
    """Issue 14: police units report in vi-an-ninh, every other unit in toan-dan; an
    explicit movement must be the unit's own (422 names the field, nothing is stored)."""
    from services.submissions.domain import SubmissionRefused
    db = FakeDatabase()
    service = intake(db)
    police = run(service.submit({**request("police:quang-ninh"), "movement": "vi-an-ninh"},
                                "k1"))
    province = run(service.submit(request(), "k2"))
    assert (police.receipt.movement, province.receipt.movement) == ("vi-an-ninh", "toan-dan")
    events = {d["unit_id"]: d["event"] for d in submissions(db)}
    assert events["police:quang-ninh"]["data"]["movement"] == "vi-an-ninh"
    assert events["police:quang-ninh"]["dataschema"].endswith("submission-accepted:v2")
    with pytest.raises(SubmissionRefused) as refused:
        run(service.submit({**request("police:bac-ninh"), "movement": "toan-dan"}, "k3"))
    assert refused.value.status == 422 and refused.value.code == "wrong-movement"
    assert refused.value.extra["errors"][0]["field"] == "movement"
    assert "police:bac-ninh" not in {d["unit_id"] for d in submissions(db)}


def test_a_read_made_before_the_mark_and_finished_after_it_still_says_accepted() -> None:
    """The API reads the document, then asks whether Kafka has it: the mark may land in
    between (the read saw it unpublished, and the delivery is no longer in flight), so
    a process still says acknowledged after the mark, not only before it."""
    db = FakeDatabase()
    service = intake(db)

    async def scenario() -> bool:
        outcome = await service.submit(request(), "k1")
        await service.settled()  # the mark has landed and the delivery left `_inflight`
        return service.acknowledged(outcome.receipt.submission_id)

    assert run(scenario())
    assert sid(1) not in db["outbox"].docs  # marked: out of the outbox
    assert not intake(db).acknowledged(sid(1))  # another process knows nothing of it


def test_a_replay_of_a_revision_out_of_the_outbox_is_not_published_again() -> None:
    """Published means out of the outbox: the mark deletes the entry and leaves the
    submission as stored. A replay in another process (no memory of the delivery) reads
    the outbox and sends nothing; with the entry left behind by a crash before the mark,
    the replay publishes it again (at least once, ADR 0001)."""
    db = FakeDatabase()
    producer = FakeProducer()
    first = run(submit_and_settle(intake(db, producer), request(), "k1"))
    assert producer.sent == [sid(1)] and db["outbox"].docs == {}
    assert db["submissions"].docs[sid(1)]["published"] is False  # not rewritten
    again = run(intake(db, producer).submit(request(), "k1"))
    assert again.replayed and again.receipt == first.receipt
    assert producer.sent == [sid(1)]
    db["outbox"].docs[sid(1)] = {"_id": sid(1), "unit_id": "province:quang-ninh",
                                 "stored_at": datetime.now(UTC)}
    run(submit_and_settle(intake(db, producer), request(), "k1"))
    assert producer.sent == [sid(1), sid(1)] and db["outbox"].docs == {}
