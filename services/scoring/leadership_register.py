"""The register of cluster heads and deputies: who was elected for a year (the registry,
or the cluster conference's record an operator made on the submissions service: the one
source every service reads), else the rotation rule's suggestion, kept per cluster and
year and published. A suggestion is only that: the conference decides (issue 14)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from opentelemetry import trace

from services.common.clock import Clock
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
from services.scoring.produced_events import leadership_event, wall_sequence
from services.scoring.store import LeadershipStore

tracer = trace.get_tracer(__name__)
EVENT_FIELDS = ("cluster_id", "period", "head", "deputy", "status", "rule", "reason",
                "decided_at")


class LeadershipRegister:
    def __init__(self, *, store: LeadershipStore, replica: RegistryReplica,
                 publisher: ChangePublisher, clock: Clock) -> None:
        self.store, self.replica, self.publisher, self.clock = store, replica, publisher, clock

    async def _years(self, cluster_id: str) -> dict[str, Any] | None:
        """The cluster's entries by year; None for the years it is dissolved."""
        raw = await self.replica.cluster_record(cluster_id)
        if raw is None:
            return None
        return {y: None if e.get("dissolved") else e for y, e in (raw.get("years") or {}).items()}

    async def _suggestion(self, cluster_id: str, years: dict[str, Any], period: int,
                          decided: list[dict[str, Any]] | None = None) -> Suggestion | None:
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

    async def decided(self) -> list[dict[str, Any]]:
        """Every operator decision of every cluster (for several clusters at once)."""
        return await self.store.decided()

    async def decided_before(self, cluster_id: str, years: Mapping[str, Any], period: int
                             ) -> list[dict[str, Any]]:
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
                   decided: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        """The decision for the year if there is one, else the rule's suggestion;
        None if the cluster does not exist that year."""
        years = await self._years(cluster_id)
        if years is None or members_in(years, period) is None:
            return None
        now = self.clock.now().astimezone(UTC).isoformat()
        recorded = registry_known(years).get(period)
        if recorded is not None:
            # Who was elected that year, as the registry or the conference's record says
            # (the one source of leadership for every service): nothing left to suggest.
            conference = (years.get(str(period)) or {}).get("conference")
            return {"cluster_id": cluster_id, "period": period, "head": recorded.pair.head,
                    "deputy": recorded.pair.deputy, "status": CONFIRMED, "rule": RULE,
                    "reason": conference_reason(conference) if conference
                    else "recorded in the unit registry",
                    "decided_at": conference["recorded_at"] if conference else now,
                    "source": "conference" if conference else "registry",
                    "members": members_in(years, period), "decisions": []}
        doc = await self.store.get(cluster_id, period)
        if doc is not None and doc.get("status") != SUGGESTED:
            # A decision taken through the retired scoring route, before conferences were
            # recorded: kept as it was, until a conference record replaces it.
            return {"source": "operator", **_public(doc)}
        found = await self._suggestion(cluster_id, years, period, decided)
        if found is None:
            return None
        return {"cluster_id": cluster_id, "period": period, "head": found.pair.head,
                "deputy": found.pair.deputy, "status": SUGGESTED, "rule": RULE,
                "reason": found.basis, "decided_at": now, "source": "rule",
                "members": members_in(years, period), "decisions": []}

    async def publish_suggestion(self, cluster_id: str, period: int,
                                 decided: list[dict[str, Any]] | None = None,
                                 sequence: int | None = None) -> None:
        """Record and publish the suggestion for the year, unless an operator decided.
        `decided` (read by the caller) comes with the `sequence` taken before it."""
        if sequence is None or decided is None:
            sequence = wall_sequence()
        view = await self.view(cluster_id, period, decided)
        if view is None or view["status"] != SUGGESTED:
            return
        view = {k: v for k, v in view.items() if k != "source"}
        if not await self.store.suggest(view):
            return  # an operator decided in the meantime
        event = leadership_event({**{k: view[k] for k in EVENT_FIELDS},
                                  "sequence": sequence}, 0)
        await self.publisher.publish("leadership", f"{cluster_id}|{period}", event,
                                     key=cluster_id)


def conference_reason(conference: dict[str, Any]) -> str:
    """Where the head and deputy come from, in words (a recorded conference)."""
    return (f"elected at the cluster conference of {conference.get('date')} in "
            f"{conference.get('place')}; recorded by {conference.get('recorded_by')} at "
            f"{conference.get('recorded_at')}")


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}
