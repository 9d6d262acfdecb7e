"""The register of cluster heads and deputies: the rule's suggestion for a year, and the
operator's confirmation or override, each kept per cluster and year and published."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from opentelemetry import trace

from services.common.clock import Clock
from services.common.registry_replica import RegistryReplica
from services.scoring import metrics
from services.scoring.events import leadership_event, wall_sequence
from services.scoring.leadership import (
    CONFIRMED,
    MAX_CHAIN_YEARS,
    OVERRIDDEN,
    RULE,
    SUGGESTED,
    Known,
    Pair,
    Suggestion,
    check_choice,
    members_in,
    registry_known,
    suggest,
)
from services.scoring.publisher import Publisher
from services.scoring.store import LeadershipStore

tracer = trace.get_tracer(__name__)
EVENT_FIELDS = ("cluster_id", "period", "head", "deputy", "status", "rule", "reason",
                "decided_at")


class LeadershipRefused(Exception):
    """A decision the rules refuse; `code` names the rule for the problem body."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class LeadershipRegister:
    def __init__(self, *, store: LeadershipStore, replica: RegistryReplica,
                 publisher: Publisher, clock: Clock) -> None:
        self.store, self.replica, self.publisher, self.clock = store, replica, publisher, clock

    async def _years(self, cluster_id: str) -> dict[str, Any] | None:
        """The cluster's entries by year; None for the years it is dissolved."""
        raw = await self.replica.clusters_coll.find_one({"_id": cluster_id})
        if raw is None:
            return None
        return {y: None if e.get("dissolved") else e for y, e in (raw.get("years") or {}).items()}

    async def _suggestion(self, cluster_id: str, years: dict[str, Any], period: int,
                          decided: list[dict[str, Any]] | None = None) -> Suggestion | None:
        """`decided`: the register's decided documents, when the caller read them
        (Rankings, by `_id`: decided_before); else those that can matter are read here,
        by `_id`."""
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
        doc = await self.store.get(cluster_id, period)
        if doc is not None and doc.get("status") != SUGGESTED:
            return {"source": "operator", **_public(doc)}
        now = self.clock.now().astimezone(UTC).isoformat()
        recorded = registry_known(years).get(period)
        if recorded is not None:
            # The registry records who was elected that year: nothing left to suggest.
            return {"cluster_id": cluster_id, "period": period, "head": recorded.pair.head,
                    "deputy": recorded.pair.deputy, "status": CONFIRMED, "rule": RULE,
                    "reason": "recorded in the unit registry", "decided_at": now,
                    "source": "registry", "members": members_in(years, period),
                    "decisions": []}
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

    async def decide(self, cluster_id: str, period: int, *, decision: str, head: str | None,
                     deputy: str | None, reason: str | None) -> dict[str, Any]:
        """An operator confirms the suggestion or overrides it; kept and published."""
        with tracer.start_as_current_span("scoring.leadership_decision", attributes={
                "emulation.period": period, "emulation.decision": decision}):
            sequence = wall_sequence()
            current = await self.view(cluster_id, period)
            if current is None:
                raise LeadershipRefused(404, "unknown-cluster",
                                        f"{cluster_id} does not exist in {period}")
            years = await self._years(cluster_id) or {}
            suggestion = await self._suggestion(cluster_id, years, period)
            if decision == "confirm":
                if suggestion is None:
                    raise LeadershipRefused(409, "no-suggestion",
                                            "the rule has no suggestion to confirm")
                if (head or suggestion.pair.head) != suggestion.pair.head or (
                        deputy or suggestion.pair.deputy) != suggestion.pair.deputy:
                    raise LeadershipRefused(
                        422, "not-the-suggestion",
                        f"the rule suggests head {suggestion.pair.head}, deputy "
                        f"{suggestion.pair.deputy}; to choose others, decide 'override' "
                        "with a reason")
                status, pair = CONFIRMED, suggestion.pair
            else:
                if head is None or not reason:
                    raise LeadershipRefused(422, "invalid-request",
                                            "an override needs a head, a deputy and a reason")
                status, pair = OVERRIDDEN, Pair(head, deputy)
            problem = check_choice(members_in(years, period) or [], pair.head, pair.deputy)
            if problem:
                raise LeadershipRefused(422, "not-a-member", problem)
            earlier = list(current.get("decisions") or [])
            current = {k: v for k, v in current.items() if k != "source"}
            latest = earlier[-1] if earlier else None
            same = latest is not None and (latest["status"], latest["head"], latest["deputy"],
                                           latest["reason"]) == (status, pair.head,
                                                                 pair.deputy, reason)
            if same:
                doc = dict(current)  # a retried request: publish again, record nothing new
            else:
                entry = {"status": status, "head": pair.head, "deputy": pair.deputy,
                         "reason": reason,
                         "decided_at": self.clock.now().astimezone(UTC).isoformat()}
                doc = {"cluster_id": cluster_id, "period": period, **entry, "rule": RULE,
                       "members": members_in(years, period), "decisions": [*earlier, entry],
                       "suggested": {"head": suggestion.pair.head,
                                     "deputy": suggestion.pair.deputy,
                                     "basis": suggestion.basis} if suggestion else None}
                await self.store.decide(doc)
                metrics.LEADERSHIP_DECISIONS.labels(decision).inc()
            event = leadership_event({**{k: doc[k] for k in EVENT_FIELDS},
                                      "sequence": sequence}, len(doc["decisions"]))
            await self.publisher.publish("leadership", f"{cluster_id}|{period}", event,
                                         key=cluster_id)
            return _public(doc)


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}
