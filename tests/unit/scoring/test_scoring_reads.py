"""What scoring's standings recomputation reads (issue 12): the cluster members' scores by
`_id`, the certificate candidates from their own collection, the changed clusters'
decisions by `_id`, never a filter on `scores` or `leadership`; and the same events as
the old computation over every score of the period. Over the recording in-memory
database of tests/fakes/mongo.py."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from services.common.envelope import Event
from services.common.registry_replica import RegistryReplica
from services.scoring.change_publisher import ChangePublisher
from services.scoring.leadership_register import LeadershipRegister
from services.scoring.produced_events import proposals_event, standings_event
from services.scoring.standings import (
    CERTIFICATE,
    certificate_candidate,
    cluster_standings,
    rank_members,
    recognition_proposals,
)
from services.scoring.standings_publisher import StandingsPublisher
from services.scoring.store import (
    CANDIDATES_BACKFILL,
    LeadershipStore,
    ScoreStore,
    candidate_key,
    flat_score,
)
from tests.fakes.clock import FixedClock
from tests.fakes.kafka import FakeProducer
from tests.fakes.mongo import FakeDatabase
from tests.unit.scoring_support import ALLOWED_SCANS, CLUSTER_4, NOW, PERIOD, a_score


class Year:
    """A generated period: clusters of police units, ministries and individuals outside
    any cluster, scores (some amended, some late), stored through ScoreStore.save."""

    def __init__(self, seed: int = 7, clusters: int = 12) -> None:
        rng = random.Random(seed)
        self.db = FakeDatabase()
        self.store = ScoreStore(self.db)
        self.producer = FakeProducer()
        replica = RegistryReplica(self.db)
        publisher = ChangePublisher(store=self.store, producer=self.producer)
        self.register = LeadershipRegister(store=LeadershipStore(self.db),
                                           replica=replica, publisher=publisher,
                                           clock=FixedClock(NOW))
        self.rankings = StandingsPublisher(
            store=self.store, replica=replica, publisher=publisher, clock=FixedClock(NOW),
            register=self.register, sweep_seconds=3600)
        self.members: dict[str, list[str]] = {}
        for c in range(1, clusters + 1):
            cid = f"mps-cluster-{c}"
            self.members[cid] = [f"police:c{c}-m{m}" for m in range(rng.randint(3, 7))]
            self.db["registry_clusters"].docs[cid] = {
                "_id": cid, "name": f"Cluster {c}",
                "years": {"2025": {"members": self.members[cid]}}}
        outside = [f"ministry:m{n}" for n in range(8)] + [f"individual:i{n}" for n in range(10)]
        self.units = [m for ms in self.members.values() for m in ms] + outside
        self.deliveries: list[dict[str, Any]] = []
        for unit in self.units:
            if rng.random() < 0.15:
                continue  # never reported
            for revision in range(1, rng.choice([2, 2, 3]) + (1 if unit.endswith("0") else 0)):
                self.deliveries.append(a_score(
                    unit, revision, round(rng.uniform(60, 100), 2),
                    on_time=rng.random() < 0.85, day=rng.randrange(20),
                    seq=rng.randrange(1, 10**6), mx=100.0))
        rng.shuffle(self.deliveries)  # out of order: older revisions after newer ones

    async def store_all(self) -> None:
        for doc in self.deliveries:
            await self.store.save(doc)

    def in_force(self) -> dict[str, dict[str, Any]]:
        """Every score in force, as the old recomputation read it ({period} on scores)."""
        out = {}
        for raw in self.db["scores"].docs.values():
            doc = flat_score(raw)
            assert doc is not None
            out[doc["unit_id"]] = doc
        return out

    def clusters(self) -> dict[str, dict[str, Any]]:
        return {cid: {"name": cid, "members": ms} for cid, ms in self.members.items()}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def old_events(year: Year, changed: set[str]) -> list[Event]:
    """The events the recomputation published before issue 12, from every score of the
    period (its standings and proposals; the suggestions are the register's)."""
    scores = year.in_force()
    rows, events = {}, []
    for cid in sorted(year.members):
        members = year.members[cid]
        rows[cid] = rank_members(members, scores)
        if changed & set(members):
            data = {**cluster_standings(cid, PERIOD, members, scores, NOW), "sequence": 1}
            events.append(standings_event(data, [scores[m]["event_id"] for m in members
                                                 if m in scores]))
    data = {**recognition_proposals(PERIOD, rows, scores, NOW), "sequence": 1}
    events.append(proposals_event(data, [scores[p["unit_id"]]["event_id"]
                                         for p in data["proposals"]]))
    return events


def test_the_recomputation_publishes_what_a_read_of_every_score_gave() -> None:
    for seed in range(4):
        year = Year(seed)
        run(year.store_all())
        changed = set(year.units)
        run(year.rankings.after_scores(PERIOD, sorted(changed)))
        sent = [e for e in year.producer.events if not e.type.endswith("leadership")]
        expected = old_events(year, changed)
        assert [e.id for e in sent] == [e.id for e in expected]
        assert [{k: v for k, v in e.data.items() if k != "sequence"} for e in sent] == [
            {k: v for k, v in e.data.items() if k != "sequence"} for e in expected]
        proposals = sent[-1].data["proposals"]
        assert any(p["award"] == CERTIFICATE and p["unit_id"].startswith("individual:")
                   for p in proposals) or seed  # individuals keep their certificates
        # The API answers the same.
        api = run(year.rankings.proposals(PERIOD))
        assert api["proposals"] == proposals
        for cid in year.members:
            assert run(year.rankings.standings(cid, PERIOD)) == cluster_standings(
                cid, PERIOD, year.members[cid], year.in_force(), NOW)


def test_a_recomputation_reads_scores_and_leadership_only_by_id() -> None:
    year = Year(3)
    run(year.store_all())
    run(year.rankings.backfill())
    # Decisions of other clusters and years, which the old read ({status}) scanned.
    for c in range(1, 40):
        for y in (2026, 2027, 2028):
            key = f"mps-cluster-{c}|{y}"
            year.db["leadership"].docs[key] = {
                "_id": key, "cluster_id": f"mps-cluster-{c}", "period": y,
                "status": "confirmed", "head": "police:x", "deputy": "police:y"}
    year.db.reset()
    unit = year.members["mps-cluster-2"][0]
    run(year.store.save(a_score(unit, 9, 99.0, seq=10**7)))
    run(year.rankings.after_scores(PERIOD, [unit]))
    scans = year.db.scans()
    assert {c for c, _, _ in scans} <= ALLOWED_SCANS, scans
    assert ("certificate_candidates", "find", {"period": PERIOD}) in scans
    # By `_id`: one id (find_one) or several at once (find with `$in`).
    reads = [(c, k) for c, op, f in year.db.calls if c in ("scores", "leadership")
             and op in ("find_one", "find") and "_id" in f
             for k in (f["_id"]["$in"] if isinstance(f["_id"], dict) else [f["_id"]])]
    # Every cluster member's score once (all clusters: the proposals need each leader),
    # and the decisions of the changed cluster only, from its first year to this one.
    members = {m for ms in year.members.values() for m in ms}
    assert sorted(k for c, k in reads if c == "scores") == sorted(
        [f"{m}|{PERIOD}" for m in members] + [f"{unit}|{PERIOD}"])  # + save's own read
    decisions = sorted(k for c, k in reads if c == "leadership")
    assert decisions == [f"mps-cluster-2|{y}" for y in range(2025, PERIOD + 2)]
    assert [e.subject for e in year.producer.events if e.type.endswith("standings")] == [
        "mps-cluster-2"]


def test_the_decisions_read_by_id_give_the_suggestion_every_decision_gave() -> None:
    db = FakeDatabase()
    replica = RegistryReplica(db)
    db["registry_clusters"].docs["mps-cluster-4"] = {"_id": "mps-cluster-4",
                                                     "years": CLUSTER_4}
    store = LeadershipStore(db)
    # publishes nothing here
    publisher = ChangePublisher(store=ScoreStore(db), producer=FakeProducer())
    register = LeadershipRegister(store=store, replica=replica, publisher=publisher,
                                  clock=FixedClock(NOW))
    members = CLUSTER_4[max(CLUSTER_4)]["members"]
    rng = random.Random(2)
    first = min(int(y) for y in CLUSTER_4)  # no decision before the cluster exists
    for y in rng.sample(range(first, 2040), 8):
        status = rng.choice(["confirmed", "overridden", "suggested"])
        head, deputy = rng.sample(members, 2)
        db["leadership"].docs[f"mps-cluster-4|{y}"] = {
            "_id": f"mps-cluster-4|{y}", "cluster_id": "mps-cluster-4", "period": y,
            "status": status, "head": head, "deputy": deputy}
    every_decision = run(register.decided())  # the read of every decision it replaces
    for year in range(2024, 2042):
        every = run(register.view("mps-cluster-4", year, every_decision))
        db.reset()
        some = run(register.decided_before("mps-cluster-4", CLUSTER_4, year))
        assert all("_id" in f for _, _, f in db.calls)
        assert run(register.view("mps-cluster-4", year, some)) == every, year
        db.reset()
        assert run(register.view("mps-cluster-4", year)) == every, year  # reads its own
        assert all("_id" in f for c, _, f in db.calls if c == "leadership")


def test_a_candidate_follows_the_score_in_force_whatever_the_order() -> None:
    db = FakeDatabase()
    store = ScoreStore(db)
    key = candidate_key(PERIOD, "province:a")

    def candidate() -> dict[str, Any] | None:
        return flat_score(db["certificate_candidates"].docs.get(key))

    r1 = a_score("province:a", 1, 60.0)
    r2 = a_score("province:a", 2, 90.0)
    r3 = a_score("province:a", 3, 88.0, on_time=False)
    run(store.save(r2))
    assert (candidate() or {})["event_id"] == r2["event_id"]
    run(store.save(r1))  # an older revision, late: changes nothing
    assert (candidate() or {})["event_id"] == r2["event_id"]
    rescored = {**r2, "total": 95.0, "seq": 50, "event_id": "rescored"}
    run(store.save(rescored))  # a rescore of the same revision
    assert (candidate() or {})["total"] == 95.0
    run(store.save(r3))  # the newer revision no longer qualifies (late)
    assert candidate() is None
    run(store.save(rescored))  # a redelivery of the older one
    assert candidate() is None
    # A process that died between the score's write and the candidate's: the
    # redelivery of the record mends it.
    r4 = a_score("province:a", 4, 99.0)
    run(store.save(r4))
    del db["certificate_candidates"].docs[key]
    run(store.save(r4))
    assert (candidate() or {})["event_id"] == r4["event_id"]
    assert {c for c, _, f in db.calls if "_id" not in f} == set()
    assert certificate_candidate(r4) and not certificate_candidate(r3)


def test_a_score_that_never_qualified_writes_no_candidate() -> None:
    db = FakeDatabase()
    store = ScoreStore(db)
    run(store.save(a_score("province:b", 1, 40.0)))
    run(store.save(a_score("province:b", 2, 50.0)))
    assert [c for c in db.calls if c[0] == "certificate_candidates"] == []


def test_the_candidates_of_existing_scores_are_backfilled_once() -> None:
    year = Year(5)
    run(year.store_all())
    expected = {u for u, s in year.in_force().items() if certificate_candidate(s)}
    year.db["certificate_candidates"].docs.clear()  # scores stored before the upgrade
    assert run(year.store.backfill_candidates()) == len(expected)
    assert {d["unit_id"] for d in year.db["certificate_candidates"].docs.values()} == expected
    assert CANDIDATES_BACKFILL in year.db["scoring_meta"].docs
    year.db.reset()
    assert run(year.store.backfill_candidates()) is None
    assert year.db.calls == [("scoring_meta", "find_one", {"_id": CANDIDATES_BACKFILL})]


def test_individuals_mark_the_period_and_never_a_cluster() -> None:
    year = Year(1)
    unit = "individual:star"
    run(year.store.save(a_score(unit, 1, 97.0)))
    run(year.rankings.mark(PERIOD, [unit]))
    marker = year.db["rankings_pending"].docs[str(PERIOD)]
    assert marker["units"] == []
    run(year.rankings.flush())
    assert [e.type.rsplit(".", 1)[-1] for e in year.producer.events] == ["proposals"]
    proposals = year.producer.events[0].data["proposals"]
    assert [(p["unit_id"], p["award"], p["cluster_id"]) for p in proposals if p[
        "unit_id"] == unit] == [(unit, CERTIFICATE, None)]
