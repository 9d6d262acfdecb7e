"""Rescoring a period under a chosen rubric version (an operator action): the rubric is
put in force for that unit type and period, emulation.submissions.v1 is replayed from
the beginning to its end offsets by a consumer of its own (no group, nothing
committed), and the latest revision of each unit is scored again, stored, made current
and published, followed by the standings and proposals."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import TypedDict

from aiokafka.errors import KafkaError
from opentelemetry import trace

from services.common.clock import Clock
from services.common.contracts import SubmissionAcceptedV1
from services.common.envelope import data_of
from services.common.kafka import BoundedReplay, KafkaUnavailable, Rejected, decode_record
from services.common.kafka_auth import KafkaAuth
from services.common.progress import Progress, silent
from services.common.topics import SUBMISSIONS
from services.scoring import metrics
from services.scoring.domain import (
    Latest,
    RescoreRefused,
    Rubric,
    check_rescore,
    latest_revisions,
    rescore_running,
)
from services.scoring.rubrics import RubricBook
from services.scoring.service import ACCEPTED, Scorer, unit_type_of
from services.scoring.standings_publisher import StandingsPublisher
from services.scoring.store import ScoreStore, gather_bounded

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class RescoreSummary(TypedDict):
    """A rescore's result (the job's, the CLI's, the log line's)."""

    period: int
    rubric_version: str
    unit_type: str
    records_read: int
    submissions: int
    rescored: int
    superseded: int


async def replay(bootstrap: str, topic: str, limit_seconds: float,
                 auth: KafkaAuth | None = None) -> AsyncIterator[bytes]:
    """Every record value of `topic` from the beginning up to the end offsets taken at
    the start (records produced meanwhile are the live consumer's); bounded in time."""
    async with BoundedReplay(bootstrap, [topic], client_id="scoring-rescore",
                             limit_seconds=limit_seconds, auth=auth) as records:
        async for batch in records.batches():
            for part in batch.values():
                for record in part:
                    if record.value is not None:
                        yield record.value


class Rescorer:
    def __init__(self, *, bootstrap: str, scorer: Scorer, rubrics: RubricBook,
                 store: ScoreStore, rankings: StandingsPublisher, clock: Clock,
                 timeout: float, auth: KafkaAuth | None = None) -> None:
        self.bootstrap, self.scorer, self.rubrics, self.store = bootstrap, scorer, rubrics, store
        self.auth = auth
        self.rankings, self.clock, self.timeout = rankings, clock, timeout
        self._running = asyncio.Lock()
        self._progress: Progress = silent

    def check(self, period: int, version: str) -> None:
        """Refuse at once what a rescore would refuse (before a job is started for it)."""
        self._rubric(period, version)

    def _rubric(self, period: int, version: str) -> Rubric:
        try:
            rubric = check_rescore(self.rubrics.get(version), version, period)
            if self._running.locked():
                raise rescore_running()
        except RescoreRefused:
            metrics.RESCORES.labels("refused").inc()
            raise
        return rubric

    async def rescore(self, period: int, version: str,
                      progress: Progress | None = None) -> RescoreSummary:
        """`progress(stage, done, total)`: told as the replay and the scoring advance."""
        rubric = self._rubric(period, version)
        self._progress = progress or silent
        async with self._running:
            started = time.perf_counter()
            with tracer.start_as_current_span("scoring.rescore", attributes={
                    "emulation.period": period, "emulation.rubric_version": version}):
                try:
                    result = await self._rescore(period, rubric)
                except (KafkaError, TimeoutError, OSError) as exc:
                    metrics.RESCORES.labels("failed").inc()
                    raise KafkaUnavailable(f"could not replay {SUBMISSIONS}: {exc!r}") from exc
            metrics.RESCORES.labels("completed").inc()
            metrics.RESCORE_SECONDS.observe(time.perf_counter() - started)
            log.info("rescored", extra={"fields": result})
            return result

    async def _rescore(self, period: int, rubric: Rubric) -> RescoreSummary:
        unit_type, version = rubric.unit_type, rubric.version
        if not self.rankings.backfilled:
            # The candidates of scores stored before they were kept, for the proposals
            # this rescore publishes (a process's first tick does it too).
            await self.rankings.backfill()
        # First put the rubric in force, so submissions arriving during the replay are
        # scored under it by the live consumer too.
        await self.store.select(unit_type, period, version, self.clock.now())
        found: list[SubmissionAcceptedV1] = []
        read = 0
        async for value in replay(self.bootstrap, SUBMISSIONS, self.timeout, self.auth):
            read += 1
            if read % 500 == 0:
                self._progress("replaying", read, None)
            data = _accepted(value)
            if data and data["period"] == period and unit_type_of(data) == unit_type:
                found.append(data)
        latest = latest_revisions(found)
        outcomes: list[bool] = []
        self._progress("scoring", 0, len(latest))

        async def rescore_one(item: Latest) -> None:
            doc = await self.scorer.score(item.data, rubric,
                                          first_received_at=item.first_received_at, fresh=True)
            metrics.RESCORED.inc()
            # None: a newer revision arrived meanwhile; it is in force.
            outcomes.append(doc is not None)
            self._progress("scoring", len(outcomes), len(latest))

        # One unit's latest revision each: the units are independent of one another.
        await gather_bounded(rescore_one(item) for item in latest.values())
        rescored = sum(outcomes)
        superseded = len(outcomes) - rescored
        if latest:
            await self.rankings.after_scores(period, list(latest))
        return RescoreSummary(period=period, rubric_version=version, unit_type=unit_type,
                             records_read=read, submissions=len(latest), rescored=rescored,
                             superseded=superseded)


def _accepted(value: bytes) -> SubmissionAcceptedV1 | None:
    """The data of a valid accepted-submission record, else None (the live consumer
    dead-letters what is invalid; a replay skips it)."""
    try:
        event = decode_record(value)
    except Rejected:
        return None
    return data_of(event, SubmissionAcceptedV1) if event.type == ACCEPTED else None
