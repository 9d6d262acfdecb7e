"""The register of cluster heads and deputies: who was elected for a year (the registry,
or the cluster conference's record an operator made on the submissions service: the one
source every service reads), else the rotation rule's suggestion, kept per cluster and
year and published. A suggestion is only that: the conference decides (issue 14)."""

from __future__ import annotations

from datetime import UTC

from opentelemetry import trace

from services.common.clock import Clock
from services.common.contracts import ConferenceRecorded
from services.common.registry_replica import RegistryReplica
from services.scoring.change_publisher import ChangePublisher
from services.scoring.leadership import (
    CONFIRMED,
    MAX_CHAIN_YEARS,
    OVERRIDDEN,
    RULE,
    SUGGESTED,
    Known,
    Pair,
    Suggestion,
    members_in,
    registry_known,
    suggest,
)
from services.scoring.models import ClusterYears, LeadershipRecord, LeadershipView
from services.scoring.produced_events import leadership_event, wall_sequence
from services.scoring.store import LeadershipStore

tracer = trace.get_tracer(__name__)


class LeadershipRegister:
    def __init__(self, *, store: LeadershipStore, replica: RegistryReplica,
                 publisher: ChangePublisher, clock: Clock) -> None:
        self.store, self.replica, self.publisher, self.clock = store, replica, publisher, clock

    async def _years(self, cluster_id: str) -> ClusterYears | None:
        """The cluster's entries by year; None for the years it is dissolved."""
        raw = await self.replica.cluster_record(cluster_id)
        if raw is None:
            return None
        return {y: None if e.get("dissolved") else e for y, e in (raw.get("years") or {}).items()}

    async def _suggestion(self, cluster_id: str, years: ClusterYears, period: int,
                          decided: list[LeadershipRecord] | None = None) -> Suggestion | None:
        """`decided`: the register's decided documents, when the caller read them
        (StandingsPublisher, by `_id`: decided_before); else those that can matter are read
        here, by `_id`."""
        known: dict[int, Known] = registry_known(years)
        docs = (await self.decided_before(cluster_id, years, period) if decided is None
                else [d for d in decided if d.get("cluster_id") == cluster_id])
        for doc in docs:
            if doc.get("status") in (CONFIRMED, OVERRIDDEN):
                # An operator's decision outranks what the registry says for that year.
                known[int(doc["period"])] = Known(Pair(doc["head"], doc.get("deputy")),
                                                  f"operator {doc['status']}")
        return suggest(period, years, known)

    async def decided(self) -> list[LeadershipRecord]:
        """Every operator decision of every cluster (for several clusters at once)."""
        return await self.store.decided()

    async def decided_before(self, cluster_id: str, years: ClusterYears, period: int
                             ) -> list[LeadershipRecord]:
        """The operator's decisions that can anchor the rule's suggestion for `period`,
        each read by `_id` (`cluster|year`): `years` is the cluster's registry record
        (`years`). The suggestion starts from the latest known year before `period`; the
        registry knows the years it records a head for, so only the decisions from the
        latest of those (an operator's decision outranks it) up to the year before can
        matter, or from the cluster's first year when the registry records no head. The
        same suggestion as from every decision of the cluster (`view` without
        `decided`), for a few reads by `_id` instead of a filter on `cluster_id`."""
        if not years:
            return []
        earlier = [y for y in registry_known(years) if y < period]
        first = max(earlier) if earlier else min(int(y) for y in years)
        first = max(first, period - MAX_CHAIN_YEARS - 1)
        return await self.store.decisions(cluster_id, range(first, period))

    async def view(self, cluster_id: str, period: int,
                   decided: list[LeadershipRecord] | None = None) -> LeadershipView | None:
        """The decision for the year if there is one, else the rule's suggestion, with
        where it comes from; None if the cluster does not exist that year."""
        found = await self._leadership(cluster_id, period, decided)
        if found is None:
            return None
        record, source = found
        return {**record, "source": source}

    async def _leadership(self, cluster_id: str, period: int,
                          decided: list[LeadershipRecord] | None
                          ) -> tuple[LeadershipRecord, str] | None:
        """`view`'s record and its source."""
        years = await self._years(cluster_id)
        members = None if years is None else members_in(years, period)
        if years is None or members is None:
            return None
        now = self.clock.now().astimezone(UTC).isoformat()
        recorded = registry_known(years).get(period)
        if recorded is not None:
            # Who was elected that year, as the registry or the conference's record says
            # (the one source of leadership for every service): nothing left to suggest.
            entry = years.get(str(period))
            conference = entry.get("conference") if entry else None
            elected: LeadershipRecord = {
                "cluster_id": cluster_id, "period": period, "head": recorded.pair.head,
                "deputy": recorded.pair.deputy, "status": CONFIRMED, "rule": RULE,
                "reason": conference_reason(conference) if conference
                else "recorded in the unit registry",
                "decided_at": conference["recorded_at"] if conference else now,
                "members": members, "decisions": []}
            return elected, "conference" if conference else "registry"
        doc = await self.store.get(cluster_id, period)
        if doc is not None and doc.get("status") != SUGGESTED:
            # A decision taken through the retired scoring route, before conferences were
            # recorded: kept as it was, until a conference record replaces it.
            kept = doc.copy()
            kept.pop("_id", None)
            return kept, "operator"
        found = await self._suggestion(cluster_id, years, period, decided)
        if found is None:
            return None
        suggested: LeadershipRecord = {
            "cluster_id": cluster_id, "period": period, "head": found.pair.head,
            "deputy": found.pair.deputy, "status": SUGGESTED, "rule": RULE,
            "reason": found.basis, "decided_at": now, "members": members, "decisions": []}
        return suggested, "rule"

    async def publish_suggestion(self, cluster_id: str, period: int,
                                 decided: list[LeadershipRecord] | None = None,
                                 sequence: int | None = None) -> None:
        """Record and publish the suggestion for the year, unless an operator decided.
        `decided` (read by the caller) comes with the `sequence` taken before it."""
        if sequence is None or decided is None:
            sequence = wall_sequence()
        found = await self._leadership(cluster_id, period, decided)
        if found is None or found[0]["status"] != SUGGESTED:
            return
        record = found[0]
        if not await self.store.suggest(record):
            return  # an operator decided in the meantime
        event = leadership_event({
            "cluster_id": record["cluster_id"], "period": record["period"],
            "head": record["head"], "deputy": record["deputy"], "status": record["status"],
            "rule": record["rule"], "reason": record["reason"],
            "decided_at": record["decided_at"], "sequence": sequence}, 0)
        await self.publisher.publish("leadership", f"{cluster_id}|{period}", event,
                                     key=cluster_id)


def conference_reason(conference: ConferenceRecorded) -> str:
    """Where the head and deputy come from, in words (a recorded conference)."""
    return (f"elected at the cluster conference of {conference.get('date')} in "
            f"{conference.get('place')}; recorded by {conference.get('recorded_by')} at "
            f"{conference.get('recorded_at')}")
