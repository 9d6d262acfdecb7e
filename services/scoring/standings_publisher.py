"""Cluster standings and recognition proposals: answered from the store and the registry
replica, and published on emulation.scores.v1 after scores change them.

Publishing is debounced: a stored score only marks its period (and unit) pending, in a
small `rankings_pending` document written before the record is done; a background job
(`tick`, every `rankings_interval_seconds`) recomputes every pending period, publishes
what changed, and deletes the marker unless it was marked again meanwhile. A process
that dies between storing a score and publishing leaves the marker behind: the next
sweep of any worker (at start-up, and every `rankings_sweep_seconds`) publishes it.

A recomputation reads only what it needs, by `_id` (FerretDB answers any other filter by
reading the whole collection, and `scores` holds every unit of every period): the
scores of the period's cluster members (`unit|period`), the certificate candidates of
the period (a small collection of their own, kept in ScoreStore.save's path), and the
operators' decisions of the changed clusters (`cluster|year`). Individuals rank in no
cluster: their scores never mark units, only the period (for their certificates)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping

from opentelemetry import trace

from services.common.batching import GroupCommit
from services.common.clock import Clock
from services.common.contracts import ClusterStandings, RecognitionProposals
from services.common.registry_replica import (
    ClusterInForce,
    RegistryReplica,
    ReplicaCluster,
    year_entry,
)
from services.scoring import metrics
from services.scoring.change_publisher import ChangePublisher
from services.scoring.leadership_register import LeadershipRegister
from services.scoring.models import ClusterYears, ScoreRecord
from services.scoring.produced_events import proposals_event, standings_event, wall_sequence
from services.scoring.standings import (
    cluster_standings,
    rank_members,
    ranks_in_clusters,
    recognition_proposals,
)
from services.scoring.store import ScoreStore, gather_bounded

tracer = trace.get_tracer(__name__)


def clusters_in(raw: Iterable[ReplicaCluster], period: int) -> dict[str, ClusterInForce]:
    """cluster id -> {name, members, head, deputy} in force for the period, from the
    replica's cluster records (as RegistryReplica.clusters, for several periods from
    one read)."""
    out: dict[str, ClusterInForce] = {}
    for c in raw:
        entry = year_entry(c, period)
        if entry is not None:
            out[c["_id"]] = {"name": c.get("name", c["_id"]), **entry}
    return out


class StandingsPublisher:
    """Answers the standings and proposals (the rules of standings.py over the store and
    the replica) and republishes them, debounced, after scores change them."""

    def __init__(self, *, store: ScoreStore, replica: RegistryReplica,
                 publisher: ChangePublisher, clock: Clock, register: LeadershipRegister,
                 sweep_seconds: float = 5.0) -> None:
        self.store, self.replica, self.publisher = store, replica, publisher
        self.clock, self.register = clock, register
        self.sweep_seconds = sweep_seconds
        # One recomputation at a time in this process, so standings computed earlier are
        # never published after standings computed later.
        self._lock = asyncio.Lock()
        self._wake = False  # a score was marked here since the last recomputation
        self._next_sweep = 0.0  # monotonic time of the next look for others' markers
        self.backfilled = False  # the candidates' one-time backfill checked here
        self._marks: GroupCommit[tuple[int, list[str]], None] = GroupCommit(
            self._write_marks, window=0.0, max_items=1000)

    async def backfill(self) -> None:
        """The certificate candidates of scores stored before they were kept: once per
        database (a marker read by `_id`), checked at this process's first tick and
        before a rescore (which may run from the command line, without ticks)."""
        await self.store.backfill_candidates()
        self.backfilled = True

    async def _scores(self, period: int, members: Mapping[str, list[str]]
                      ) -> dict[str, ScoreRecord]:
        """What the period's standings and proposals read: the score in force of every
        cluster member (by `_id`; `members`: cluster id -> its members) and of every
        certificate candidate, cluster member or not (recognition_proposals needs no
        other score)."""
        units = {m for ms in members.values() for m in ms}
        candidates, scores = await asyncio.gather(self.store.candidates_of(period),
                                                  self.store.scores_of(units, period))
        return {**candidates, **scores}  # a member: its score in force, not the copy

    async def standings(self, cluster_id: str, period: int) -> ClusterStandings | None:
        cluster = (await self.replica.clusters(period)).get(cluster_id)
        if cluster is None:
            return None
        scores = await self.store.scores_of(cluster["members"], period)
        return cluster_standings(cluster_id, period, cluster["members"], scores,
                                 self.clock.now())

    async def clusters_of(self, unit_id: str | None, period: int) -> set[str]:
        """The clusters the unit belongs to in the period."""
        clusters = await self.replica.clusters(period)
        return {cid for cid, c in clusters.items() if unit_id in c["members"]}

    async def proposals(self, period: int) -> RecognitionProposals:
        clusters = await self.replica.clusters(period)
        members = {cid: c["members"] for cid, c in clusters.items()}
        scores = await self._scores(period, members)
        rows = {cid: rank_members(ms, scores) for cid, ms in members.items()}
        return recognition_proposals(period, rows, scores, self.clock.now())

    # -- debounced publication ----------------------------------------------------------

    async def mark(self, period: int, unit_ids: Iterable[str]) -> None:
        """These units' scores changed the period: publish its rankings soon. Durable
        before it returns, so the record that stored the score may be committed.
        Individuals mark the period (certificates) but no unit: they rank in no cluster.
        Marks made together (the records of one batch, handled concurrently) are written
        together: one write per period, never two `$addToSet`s of one marker at once
        (FerretDB's update of one document is not atomic across concurrent writers)."""
        await self._marks((period, [u for u in unit_ids if ranks_in_clusters(u)]))
        self._wake = True

    async def _write_marks(self, items: list[tuple[int, list[str]]]) -> list[None]:
        by_period: dict[int, set[str]] = {}
        for period, units in items:
            by_period.setdefault(period, set()).update(units)
        for period, marked in by_period.items():
            await self.store.mark_pending(period, marked)
        return [None] * len(items)

    async def tick(self) -> None:
        """The periodic job: recompute at once when scores were marked here, else look
        for markers left by a crash or by another worker every `sweep_seconds`."""
        if not self._wake and time.monotonic() < self._next_sweep:
            return
        self._wake = False
        self._next_sweep = time.monotonic() + self.sweep_seconds
        try:
            if not self.backfilled:
                await self.backfill()
            if await self.flush():
                self._wake = True  # marked again meanwhile: at the next tick
        except BaseException:
            self._wake = True  # e.g. Kafka away: the markers stay, try again
            raise

    async def after_scores(self, period: int, unit_ids: Iterable[str]) -> None:
        """Mark the period and publish at once (a rescore, which waits for it)."""
        await self.mark(period, unit_ids)
        await self.flush()

    async def flush(self) -> bool:
        """Recompute and publish every pending period; True if a marker was left
        because it was marked again during the recomputation."""
        async with self._lock:
            pending = await self.store.pending_periods()
            if not pending:
                return False
            started = time.perf_counter()
            with tracer.start_as_current_span("scoring.publish_rankings", attributes={
                    "emulation.periods": len(pending)}):
                # Taken before the inputs are read (docs/scoring.md, "Order").
                sequence = wall_sequence()
                raw = await self.replica.all_clusters()
                years: dict[str, ClusterYears] = {c["_id"]: dict(c.get("years") or {})
                                                  for c in raw}
                left = False
                for period in sorted(pending):
                    token, units = pending[period]
                    members = {cid: c["members"] for cid, c in clusters_in(raw, period).items()}
                    await self._publish(period, {u for u in units if ranks_in_clusters(u)},
                                        await self._scores(period, members), members,
                                        sequence, years)
                    if not await self.store.unmark_pending(period, token):
                        left = True
            metrics.RANKINGS_PERIODS.inc(len(pending))
            metrics.RANKINGS_SECONDS.observe(time.perf_counter() - started)
            return left

    async def _publish(self, period: int, changed: set[str], scores: Mapping[str, ScoreRecord],
                       members: Mapping[str, list[str]], sequence: int,
                       years: Mapping[str, ClusterYears]) -> None:
        """Publish the standings of the clusters holding the changed units, next year's
        leadership suggestion for them, then the period's proposals: each only if its
        content changed since it was last published. `members`: cluster id -> its members
        that period; `years`: each cluster's registry record by year, for the operators'
        decisions that anchor the suggestion."""
        now = self.clock.now()
        rows = {cid: rank_members(ms, scores) for cid, ms in members.items()}

        async def cluster(cid: str) -> None:
            data: ClusterStandings = {
                **cluster_standings(cid, period, members[cid], scores, now),
                "sequence": sequence}
            basis = [scores[m]["event_id"] for m in members[cid] if m in scores]
            await self.publisher.publish("standings", f"{cid}|{period}",
                                         standings_event(data, basis), key=cid)
            decided = await self.register.decided_before(cid, years.get(cid) or {},
                                                         period + 1)
            await self.register.publish_suggestion(cid, period + 1, decided, sequence)

        # The changed clusters' publications are independent of each other (each its own
        # key and documents): together, so their round trips overlap.
        await gather_bounded(cluster(cid) for cid in sorted(members)
                             if changed & set(members[cid]))
        data: RecognitionProposals = {**recognition_proposals(period, rows, scores, now),
                                      "sequence": sequence}
        basis = [scores[p["unit_id"]]["event_id"] for p in data["proposals"]]
        await self.publisher.publish("proposals", str(period), proposals_event(data, basis),
                                     key=f"period:{period}")
