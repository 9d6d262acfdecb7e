"""Publishes derived events (standings, proposals, leadership) on emulation.scores.v1,
each only when its content differs from the last one sent on the same stream."""

from __future__ import annotations

from services.common.envelope import Event
from services.common.ports import Producer
from services.common.topics import SCORES
from services.scoring import metrics
from services.scoring.store import ScoreStore


class ChangePublisher:
    """Sends a derived event only when it differs from the last one sent on its stream."""

    def __init__(self, *, store: ScoreStore, producer: Producer) -> None:
        self.store, self.producer = store, producer

    async def publish(self, kind: str, stream: str, event: Event, *, key: str) -> bool:
        """Send `event` unless it is the last one sent on `kind|stream`. Event ids are a
        function of content, so equal ids mean equal content; a crash between sending
        and recording only sends the same event again, a duplicate consumers drop."""
        stream_id = f"{kind}|{stream}"
        if await self.store.published(stream_id) == event.id:
            metrics.PUBLICATIONS.labels(kind, "unchanged").inc()
            return False
        await self.producer.send(SCORES, event, key=key)
        await self.store.mark_published(stream_id, event.id)
        metrics.PUBLICATIONS.labels(kind, "emitted").inc()
        return True
