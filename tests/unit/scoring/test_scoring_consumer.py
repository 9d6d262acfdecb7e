"""The scoring consumer's cheap path: ScoreStore.save decides from a read by `_id` (insert,
skip, or conditional replace) and the standings and proposals are published by a
debounced recomputation from durable pending markers (services/scoring/standings_publisher.py),
over an in-memory stand-in for the collections."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.registry_replica import RegistryReplica
from services.scoring import standings_publisher as rankings_module
from services.scoring.change_publisher import ChangePublisher
from services.scoring.leadership_register import LeadershipRegister
from services.scoring.standings_publisher import StandingsPublisher, clusters_in
from services.scoring.store import ScoreStore, flat_score
from tests.fakes.clock import FixedClock
from tests.fakes.kafka import FakeProducer
from tests.fakes.mongo import FakeDatabase

PERIOD = 2031
MEMBERS = ["police:a", "police:b", "police:c"]
NOW = datetime(2031, 11, 20, 2, 0, tzinfo=UTC)


def score(unit: str, revision: int, total: float = 50.0, rubric: str = "police-2026.1",
          period: int = PERIOD) -> dict[str, Any]:
    return {"unit_id": unit, "period": period, "unit_type": "police", "total": total,
            "max": 100.0, "breakdown": [], "rubric_version": rubric, "revision": revision,
            "submission_id": f"s-{unit}-{revision}", "on_time": True,
            "received_at": "2031-11-10T02:00:00+00:00",
            "first_received_at": "2031-11-10T02:00:00+00:00",
            "scored_at": "2031-11-10T02:00:01+00:00",
            "event_id": f"score:{unit}:{period}:r{revision}:{rubric}:{total}"}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- ScoreStore.save: decided from a read by _id --------------------------------------------

def in_force(db: FakeDatabase, unit: str = "police:a") -> dict[str, Any]:
    doc = flat_score(db["scores"].docs[f"{unit}|{PERIOD}"])
    assert doc is not None
    return doc


def test_a_first_score_is_one_write_by_id() -> None:
    db = FakeDatabase()
    store = ScoreStore(db)
    assert run(store.save(score("police:a", 1)))
    assert in_force(db)["revision"] == 1
    assert db["scores"].calls == [("find_one", {"_id": "police:a|2031"}),
                                  ("update_one", {"_id": "police:a|2031"})]
    assert "police:a|2031|police-2026.1|r1" in db["score_history"].docs


def test_an_older_revision_never_replaces_a_newer_one_and_writes_nothing() -> None:
    db = FakeDatabase()
    store = ScoreStore(db)
    run(store.save(score("police:a", 2, total=70)))
    db["scores"].calls.clear()
    assert not run(store.save(score("police:a", 1, total=40)))
    assert in_force(db)["total"] == 70
    assert [name for name, _ in db["scores"].calls] == ["find_one"]


def test_a_redelivered_score_in_force_is_current_without_a_write() -> None:
    db = FakeDatabase()
    store = ScoreStore(db)
    doc = score("police:a", 1)
    run(store.save(doc))
    db["scores"].calls.clear()
    db["score_history"].calls.clear()
    current = run(store.current("police:a", PERIOD))
    assert run(store.save(doc, in_history=True, current=current, read=False))
    assert [name for name, _ in db["scores"].calls] == ["find_one"]  # store.current's
    assert db["score_history"].calls == []


def test_a_newer_revision_or_a_later_rescore_replaces_it_with_one_write_by_id() -> None:
    db = FakeDatabase()
    store = ScoreStore(db)
    run(store.save(score("police:a", 1)))
    assert run(store.save({**score("police:a", 2, total=80), "seq": 5}))
    assert db["scores"].calls[-1] == ("update_one", {"_id": "police:a|2031"})
    assert in_force(db)["total"] == 80
    # A rescore of the same revision (a later scoring) replaces it, an earlier one not.
    assert run(store.save({**score("police:a", 2, total=60, rubric="police-2024.1"),
                           "seq": 7}))
    assert in_force(db)["rubric_version"] == "police-2024.1"
    assert not run(store.save({**score("police:a", 2, total=10, rubric="police-2023.1"),
                               "seq": 6}))
    assert in_force(db)["total"] == 60
    assert all(flt == {"_id": "police:a|2031"} for _, flt in db["scores"].calls)


def test_a_stale_read_never_lets_an_older_revision_win() -> None:
    """Another worker made revision 3 current after this one read revision 1: the `$max`
    of revision 2 changes nothing, and 2 is not in force."""
    db = FakeDatabase()
    store = ScoreStore(db)
    run(store.save(score("police:a", 1)))
    stale = run(store.current("police:a", PERIOD))
    run(store.save(score("police:a", 3, total=90)))
    assert not run(store.save(score("police:a", 2), current=stale, read=False))
    assert in_force(db)["revision"] == 3


def test_a_racing_first_write_is_decided_by_the_revision() -> None:
    db = FakeDatabase()
    store = ScoreStore(db)
    run(store.save(score("police:a", 2, total=70)))  # the other worker's, unseen below
    assert not run(store.save(score("police:a", 1), current=None, read=False))
    assert run(store.save(score("police:a", 3), current=None, read=False))
    assert in_force(db)["revision"] == 3


def test_any_order_of_revisions_and_rescores_ends_in_the_same_score() -> None:
    versions = [{**score("police:a", r, total=t, rubric=v), "seq": q}
                for r, t, v, q in ((1, 40, "police-2026.1", 1), (2, 70, "police-2026.1", 2),
                                   (2, 75, "police-2024.1", 3), (3, 20, "police-2026.1", 4),
                                   (3, 25, "police-2024.1", 5))]
    finals = set()
    for order in itertools.permutations(versions):
        db = FakeDatabase()
        store = ScoreStore(db)
        for doc in [*order, order[0]]:
            run(store.save(doc))
        finals.add((in_force(db)["revision"], in_force(db)["total"]))
    assert finals == {(3, 25)}


# -- debounced rankings ------------------------------------------------------------------------

class FakeRegister(LeadershipRegister):
    def __init__(self) -> None:  # no store: nothing decided
        self.suggested: list[tuple[str, int]] = []

    async def decided(self) -> list[dict[str, Any]]:
        return []

    async def decided_before(self, cluster_id: str, years: Mapping[str, Any],
                             period: int) -> list[dict[str, Any]]:
        return []

    async def publish_suggestion(self, cluster_id: str, period: int,
                                 decided: list[dict[str, Any]] | None = None,
                                 sequence: int | None = None) -> None:
        assert decided is not None and sequence is not None  # read once per recomputation
        self.suggested.append((cluster_id, period))


class FakeReplica(RegistryReplica):
    """The registry read straight from its collection, nothing held in memory."""

    def __init__(self, db: FakeDatabase) -> None:
        self.clusters_coll = db["registry_clusters"]
        self.clusters_coll.docs["mps-cluster-4"] = {
            "_id": "mps-cluster-4", "name": "Cluster 4",
            "years": {"2025": {"members": MEMBERS}}}
        self.clusters_coll.docs["mps-cluster-5"] = {
            "_id": "mps-cluster-5", "name": "Cluster 5",
            "years": {"2025": {"members": ["police:x"]}}}

    async def all_clusters(self) -> list[dict[str, Any]]:
        return await self.clusters_coll.find({}).to_list(None)

    async def cluster_record(self, cluster_id: str) -> dict[str, Any] | None:
        return await self.clusters_coll.find_one({"_id": cluster_id})


@dataclass
class World:
    db: FakeDatabase
    store: ScoreStore
    producer: FakeProducer
    register: FakeRegister

    def rankings(self) -> StandingsPublisher:
        """A process's StandingsPublisher over the shared database (a new one = a restart)."""
        return StandingsPublisher(store=self.store, replica=FakeReplica(self.db),
                                  publisher=ChangePublisher(store=self.store,
                                                            producer=self.producer),
                                  clock=FixedClock(NOW), register=self.register,
                                  sweep_seconds=3600)

    def kinds(self) -> list[str]:
        return [e.type.rsplit(".", 1)[-1] for e in self.producer.events]


def world() -> World:
    db = FakeDatabase()
    return World(db, ScoreStore(db), FakeProducer(), FakeRegister())


def test_many_scores_are_published_once_from_one_read_of_the_period() -> None:
    w = world()
    rankings = w.rankings()

    async def scenario() -> None:
        for i, unit in enumerate(MEMBERS):
            await w.store.save(score(unit, 1, total=50 + i))
            await rankings.mark(PERIOD, [unit])
        await rankings.tick()

    run(scenario())
    assert w.kinds() == ["standings", "proposals"]
    assert w.register.suggested == [("mps-cluster-4", PERIOD + 1)]
    # Besides the candidates' one-time backfill (the first tick), only reads by _id.
    assert [c for c in w.db["scores"].calls if "_id" not in c[1]] == [("find", {})]
    standings = w.producer.events[0].data
    assert [r["unit_id"] for r in standings["standings"]] == ["police:c", "police:b",
                                                              "police:a"]
    assert w.db["rankings_pending"].docs == {}


def test_nothing_is_read_or_published_until_a_score_is_marked() -> None:
    w = world()
    rankings = w.rankings()
    run(rankings.tick())  # the first tick sweeps (start-up): nothing pending
    w.db["rankings_pending"].calls.clear()
    run(rankings.tick())
    assert w.db["rankings_pending"].calls == [] and w.producer.events == []


def test_unchanged_rankings_are_not_published_again() -> None:
    w = world()
    rankings = w.rankings()
    run(w.store.save(score("police:a", 1)))
    run(rankings.after_scores(PERIOD, ["police:a"]))
    sent = len(w.producer.events)
    run(rankings.after_scores(PERIOD, ["police:a"]))  # a redelivery
    assert len(w.producer.events) == sent


def test_a_crash_before_publishing_is_published_after_the_restart() -> None:
    w = world()
    run(w.store.save(score("police:a", 1)))
    run(w.rankings().mark(PERIOD, ["police:a"]))  # ... and the process dies here
    assert w.producer.events == []
    restarted = w.rankings()
    run(restarted.tick())  # its first tick sweeps the markers
    assert w.kinds() == ["standings", "proposals"]
    assert w.db["rankings_pending"].docs == {}


def test_a_failed_publication_keeps_the_marker_and_is_retried() -> None:
    w = world()
    rankings = w.rankings()
    run(w.store.save(score("police:a", 1)))
    run(rankings.mark(PERIOD, ["police:a"]))
    w.producer.failures = [ConnectionError("kafka away")]
    with pytest.raises(ConnectionError):
        run(rankings.tick())
    assert str(PERIOD) in w.db["rankings_pending"].docs
    assert w.producer.failures == []
    run(rankings.tick())
    assert w.kinds() == ["standings", "proposals"]
    assert w.db["rankings_pending"].docs == {}


def test_a_score_marked_during_a_recomputation_is_published_by_the_next() -> None:
    """The marker is deleted only if no score marked it after it was read: a score
    stored while the scores were being read is never left unpublished."""
    w = world()
    rankings = w.rankings()
    run(w.store.save(score("police:a", 1, total=40)))
    run(rankings.mark(PERIOD, ["police:a"]))
    late = asyncio.Event()

    def meanwhile(op: str, flt: dict[str, Any]) -> None:
        if not late.is_set():
            late.set()
            # Another worker stores police:b and marks the period, after the scores
            # were read (the publications are read next).
            w.db["scores"].docs["police:b|2031"] = {**score("police:b", 1, total=90),
                                                    "_id": "police:b|2031"}
            w.db["rankings_pending"].docs[str(PERIOD)].update(
                {"token": "another", "units": ["police:a", "police:b"]})

    w.db["publications"].before = meanwhile
    run(rankings.tick())
    assert str(PERIOD) in w.db["rankings_pending"].docs  # left for the next tick
    first = w.producer.events[0].data
    assert [r["unit_id"] for r in first["standings"] if r["submitted"]] == ["police:a"]
    run(rankings.tick())
    assert w.db["rankings_pending"].docs == {}
    last = [e for e in w.producer.events if e.type.endswith("standings")][-1].data
    assert [r["unit_id"] for r in last["standings"] if r["submitted"]] == [
        "police:b", "police:a"]


def test_the_sequence_is_taken_before_the_scores_are_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    w = world()
    order: list[str] = []

    def wall_sequence() -> int:
        order.append("sequence")
        return 42

    monkeypatch.setattr(rankings_module, "wall_sequence", wall_sequence)
    w.db["scores"].before = lambda op, _: order.append(f"scores.{op}")
    w.db["registry_clusters"].before = lambda op, _: order.append(f"clusters.{op}")
    rankings = w.rankings()
    run(w.store.save(score("police:a", 1)))
    order.clear()
    run(rankings.after_scores(PERIOD, ["police:a"]))
    assert order[:3] == ["sequence", "clusters.find", "scores.find"]  # members: one $in
    assert {e.data["sequence"] for e in w.producer.events} == {42}


def test_only_the_clusters_of_changed_units_are_published() -> None:
    w = world()
    rankings = w.rankings()
    run(w.store.save(score("police:x", 1)))
    run(w.store.save(score("police:a", 1)))
    run(rankings.after_scores(PERIOD, ["police:x"]))
    assert [e.subject for e in w.producer.events if e.type.endswith("standings")] == [
        "mps-cluster-5"]
    assert w.register.suggested == [("mps-cluster-5", PERIOD + 1)]


def test_clusters_in_follows_the_registry_years() -> None:
    raw = [{"_id": "c1", "years": {"2025": {"members": ["a"]}, "2030": {"dissolved": True}}},
           {"_id": "c2", "name": "Two", "years": {"2027": {"members": ["b", "c"]}}}]
    assert clusters_in(raw, 2026) == {"c1": {"name": "c1", "members": ["a"]}}
    assert clusters_in(raw, 2031) == {"c2": {"name": "Two", "members": ["b", "c"]}}


def test_a_suggestion_from_the_decisions_read_once_equals_one_read_per_cluster() -> None:
    from services.scoring.store import LeadershipStore

    db = FakeDatabase()
    replica = FakeReplica(db)
    store = LeadershipStore(db)
    # publishes nothing here
    publisher = ChangePublisher(store=ScoreStore(db), producer=FakeProducer())
    register = LeadershipRegister(store=store, replica=replica, publisher=publisher,
                                  clock=FixedClock(NOW))
    db["leadership"].docs = {
        "mps-cluster-4|2032": {"_id": "mps-cluster-4|2032", "cluster_id": "mps-cluster-4",
                               "period": 2032, "status": "overridden", "head": "police:c",
                               "deputy": "police:a"},
        "mps-cluster-5|2032": {"_id": "mps-cluster-5|2032", "cluster_id": "mps-cluster-5",
                               "period": 2032, "status": "confirmed", "head": "police:x",
                               "deputy": None},
        "mps-cluster-4|2033": {"_id": "mps-cluster-4|2033", "cluster_id": "mps-cluster-4",
                               "period": 2033, "status": "suggested", "head": "police:b",
                               "deputy": "police:c"}}
    decided = run(register.decided())
    assert {d["_id"] for d in decided} == {"mps-cluster-4|2032", "mps-cluster-5|2032"}
    alone = run(register.view("mps-cluster-4", 2033))
    shared = run(register.view("mps-cluster-4", 2033, decided))
    assert alone == shared
    assert (shared["head"], shared["deputy"]) == ("police:a", "police:b")  # from 2032's


def test_marks_made_together_are_one_write_per_period_with_every_unit() -> None:
    """A batch's records are scored concurrently: their marks must neither race on one
    marker (FerretDB's $addToSet is not atomic across writers) nor lose a unit."""
    w = world()
    rankings = w.rankings()
    units = [f"police:u{i}" for i in range(40)]

    async def scenario() -> None:
        await asyncio.gather(*(rankings.mark(PERIOD + (i % 2), [u])
                               for i, u in enumerate(units)))

    run(scenario())
    writes = [c for c in w.db["rankings_pending"].calls if c[0] != "find_one"]
    assert len(writes) <= 4  # the first lone mark, then one write per period
    stored = {int(k): set(d["units"]) for k, d in w.db["rankings_pending"].docs.items()}
    assert stored == {PERIOD: set(units[0::2]), PERIOD + 1: set(units[1::2])}
