"""Applies events to the read models and assembles the reports from them."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import trace

from services.common import event_types, movements
from services.common.clock import Clock
from services.common.contracts import (
    ClusterLeadership,
    ClusterStandings,
    NotificationV1,
    RecognitionProposals,
    ScoreComputedV1,
    SubmissionAcceptedV1,
)
from services.common.envelope import Event, data_of
from services.common.kafka import Handler, Rejected
from services.common.mongo import all_stored_as
from services.common.registry_replica import RegistryReplica
from services.common.topics import NOTIFICATIONS, SCORES, SUBMISSIONS, UNITS
from services.reporting import metrics, projections
from services.reporting.cluster_report import cluster_report
from services.reporting.dashboard import daily_series, dashboard_view
from services.reporting.domain import UnknownCluster, iso, national_report, statement
from services.reporting.membership import clusters_for_period
from services.reporting.models import (
    ClusterReport,
    Clusters,
    NationalReport,
    RegistryUnit,
    RemindersByUnit,
    ReportBase,
    ReportsByUnit,
    ScoresByUnit,
)
from services.reporting.rebuild import Fold
from services.reporting.snapshots import Snapshots
from services.reporting.store import ReadModel

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

ACCEPTED = event_types.SUBMISSION_ACCEPTED
SCORED = event_types.SCORE_COMPUTED
STANDINGS = event_types.CLUSTER_STANDINGS
PROPOSALS = event_types.RECOGNITION_PROPOSALS
LEADERSHIP = event_types.CLUSTER_LEADERSHIP
NOTIFICATION_PREFIX = event_types.NOTIFICATION_PREFIX


@dataclass(frozen=True)
class National:
    """The national synthesis of a period as computed from the read models (its `as_of`,
    `last_event_at` and `statement` are set per request), and what it was computed from
    (the cluster reports of the period read the same). Shared between requests: read
    it, never change it."""

    report: dict[str, NationalReport]  # by movement
    units: list[RegistryUnit]
    clusters: Clusters
    reports: ReportsByUnit
    scores: ScoresByUnit
    reminders: RemindersByUnit


class Reports:
    def __init__(self, *, model: ReadModel, replica: RegistryReplica, clock: Clock,
                 refresh_seconds: float = 3.0) -> None:
        self.model, self.replica, self.clock = model, replica, clock
        self.refresh_seconds = refresh_seconds
        self.snapshots: Snapshots[National] = Snapshots()

    def handlers(self) -> dict[str, Handler]:
        """The handler of each topic: the live agents and the rebuild use the same."""
        return {UNITS: self.replica.apply, SUBMISSIONS: self.on_submission,
                SCORES: self.on_score, NOTIFICATIONS: self.on_notification}

    @staticmethod
    def folds() -> dict[str, Fold]:
        """What a replay may leave out of one key's records fetched together: the
        submissions whose effect another one holds (`projections.fold_submissions`)."""
        return {SUBMISSIONS: projections.fold_submissions}

    # -- events -------------------------------------------------------------------------

    async def on_submission(self, event: Event) -> None:
        if event.type != ACCEPTED:
            metrics.applied(event.type, "ignored")
            return
        with _usable(event):
            data = data_of(event, SubmissionAcceptedV1)
            first, latest = projections.submission_parts(data)
            key = projections.unit_key(data["unit_id"], data["period"])
            base: ReportBase = {"unit_id": data["unit_id"], "period": int(data["period"])}
        await self._applied(event, await self.model.apply_submission(key, base, first, latest))

    async def on_score(self, event: Event) -> None:
        write: Awaitable[bool]
        with _usable(event):
            if event.type == SCORED:
                write = self.model.apply_score(projections.score_doc(
                    data_of(event, ScoreComputedV1), event.time))
            elif event.type == STANDINGS:
                write = self.model.apply_standings(projections.standings_doc(
                    data_of(event, ClusterStandings)))
            elif event.type == PROPOSALS:
                write = self.model.apply_proposals(projections.proposals_doc(
                    data_of(event, RecognitionProposals)))
            elif event.type == LEADERSHIP:
                write = self.model.apply_leadership(projections.leadership_doc(
                    data_of(event, ClusterLeadership)))
            else:
                metrics.applied(event.type, "ignored")
                return
        await self._applied(event, await write)

    async def on_notification(self, event: Event) -> None:
        if not event.type.startswith(NOTIFICATION_PREFIX):
            metrics.applied(event.type, "ignored")
            return
        with _usable(event):
            doc = projections.reminder_doc(event.type, event.time,
                                           data_of(event, NotificationV1))
        await self._applied(event, await self.model.apply_reminder(doc))

    async def _applied(self, event: Event, stored: bool) -> None:
        await self.model.advance_watermark(projections.parse_time(event.time))
        metrics.applied(event.type, "applied" if stored else "stale")

    # -- reports ------------------------------------------------------------------------

    async def national(self, period: int, movement: str = movements.DEFAULT
                       ) -> NationalReport:
        return (await self._national(period, movement))[0]

    async def _national(self, period: int, movement: str = movements.DEFAULT
                        ) -> tuple[NationalReport, ReportsByUnit]:
        """The synthesis as of now. What it is computed from is read only when the
        period's version token or the registry's generation changed (two reads by `_id`
        otherwise); the time it states is read first, so it is never newer than that."""
        with tracer.start_as_current_span("reporting.national",
                                          attributes={"emulation.period": period}):
            last_event_at = await self.model.last_event_at()
            held = await self._held(period)
            as_of = self.clock.now()
            report: NationalReport = {**held.report[movement], "as_of": as_of.isoformat(),
                      "last_event_at": iso(last_event_at),
                      "statement": statement(as_of, last_event_at)}
            return report, held.reports

    async def _held(self, period: int) -> National:
        return await self.snapshots.get(period, lambda: self._national_key(period),
                                        lambda: self._compute_national(period))

    async def _national_key(self, period: int) -> tuple[Any, ...]:
        return (await self.model.version(period), await self.replica.generation())

    async def _compute_national(self, period: int) -> National:
        units = await self._units(period)
        clusters = await self._clusters(period, units)
        reports = await self.model.reports_for(period)
        scores = await self.model.scores_for(period)
        reminders = await self.model.reminders_for(period)
        proposals = await self.model.proposals_of(period)
        report = {m: national_report(
            period=period, as_of=self.clock.now(), units=units, clusters=clusters,
            reports=reports, scores=scores, reminders=reminders, proposals=proposals,
            movement=m) for m in movements.IDS}
        return National(report=report, units=units, clusters=clusters, reports=reports,
                        scores=scores, reminders=reminders)

    async def _units(self, period: int) -> list[RegistryUnit]:
        """The registry's units of `period`, as reporting reads them."""
        return all_stored_as(RegistryUnit, await self.replica.units(period))

    async def _clusters(self, period: int, units: list[RegistryUnit] | None = None
                        ) -> Clusters:
        units = units if units is not None else await self._units(period)
        raw = await self.replica.all_clusters()
        return clusters_for_period(period, units, raw)

    async def cluster_members(self, cluster_id: str, period: int) -> list[str]:
        cluster = (await self._clusters(period)).get(cluster_id)
        if cluster is None:
            raise UnknownCluster(f"no cluster {cluster_id} in {period}")
        return list(cluster.get("members", []))

    async def cluster(self, cluster_id: str, period: int) -> ClusterReport:
        with tracer.start_as_current_span("reporting.cluster",
                                          attributes={"emulation.period": period,
                                                      "emulation.cluster": cluster_id}):
            # What the national synthesis is computed from, held as it is (reads by
            # `_id` only when nothing changed); the cluster's own documents by `_id`.
            last_event_at = await self.model.last_event_at()
            held = await self._held(period)
            cluster = held.clusters.get(cluster_id)
            if cluster is None:
                raise UnknownCluster(f"no cluster {cluster_id} in {period}")
            raw = await self.replica.cluster_record(cluster_id)
            return cluster_report(
                cluster_id=cluster_id, period=period, as_of=self.clock.now(), cluster=cluster,
                registry_years=raw.get("years", {}) if raw else {}, units=held.units,
                reports=held.reports, scores=held.scores, reminders=held.reminders,
                standings=await self.model.standings_of(cluster_id, period),
                proposals=await self.model.proposals_of(period),
                leadership=await self.model.leadership_of(cluster_id, period + 1),
                last_event_at=last_event_at)

    async def dashboard(self, period: int, movement: str = movements.DEFAULT
                        ) -> dict[str, Any]:
        report, reports = await self._national(period, movement)
        series = daily_series(expected=[u["unit_id"] for u in report["units"]],
                              reports=reports, deadline=datetime.fromisoformat(
                                  report["deadline"]),
                              as_of=datetime.fromisoformat(report["as_of"]))
        return dashboard_view(report, series, self.refresh_seconds)


@contextlib.contextmanager
def _usable(event: Event) -> Iterator[None]:
    """Turns a malformed event (a field missing or of the wrong type, which the schema
    let through) into a dead letter at once instead of after three failed retries."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        raise Rejected("unusable-event",
                       f"{event.type} lacks what reporting needs: {exc!r}") from exc
