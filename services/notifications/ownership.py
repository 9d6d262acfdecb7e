"""Which units this worker reminds: those whose records fall in the partitions of
emulation.units.v1 that faust assigned to this worker (the unit id is the record key,
so the unit's partition is Kafka's murmur2 of it). No leader: every worker schedules its
own partitions, and the ledger makes an overlap during a rebalance harmless."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.notifications import metrics
from services.notifications.domain import partition_of


class Ownership:
    def __init__(self, topic: str, partitions: int) -> None:
        self.topic, self.count = topic, partitions
        self._owned: frozenset[int] = frozenset()
        # Bumped on every change, so the scheduler knows to look for abandoned claims.
        self.generation = 0

    def partitions(self) -> frozenset[int]:
        return self._owned

    def owns(self, unit_id: str) -> bool:
        return partition_of(unit_id, self.count) in self._owned

    def assign(self, tps: Iterable[Any]) -> None:
        self._owned = frozenset(tp.partition for tp in tps if tp.topic == self.topic)
        self.generation += 1
        metrics.OWNED_PARTITIONS.set(len(self._owned))

    def revoke(self, tps: Iterable[Any]) -> None:
        gone = {tp.partition for tp in tps if tp.topic == self.topic}
        self._owned = self._owned - gone
        self.generation += 1
        metrics.OWNED_PARTITIONS.set(len(self._owned))

    def connect(self, app: Any) -> None:
        """Follow the faust app's rebalances (its on_partitions_* signals)."""

        async def assigned(sender: Any, assigned: Any, **_: Any) -> None:
            self.assign(assigned)

        async def revoked(sender: Any, revoked: Any, **_: Any) -> None:
            self.revoke(revoked)

        app.on_partitions_assigned.connect(assigned)
        app.on_partitions_revoked.connect(revoked)
