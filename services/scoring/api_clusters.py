"""HTTP entrypoints for clusters: standings, proposals for recognition, and the cluster
head and deputy (who was elected, else the rule's suggestion). Standings and proposals
are computed suggestions for the cluster's conference, which decides by consensus; its
record is made on the submissions service (issue 14)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from services.common.auth import Principal
from services.common.contracts import ClusterStandings, Standing
from services.common.http import CurrentPrincipal
from services.common.problems import Problem
from services.scoring.api import LineRead, Period
from services.scoring.leadership_register import LeadershipRegister
from services.scoring.standings import CERTIFICATE_MIN_RATIO
from services.scoring.standings_publisher import StandingsPublisher

ClusterId = Annotated[str, Path(pattern=r"^mps-cluster-[0-9]+$", max_length=40)]
UnitId = Annotated[str, Field(
    max_length=120,
    pattern=r"^(ministry|province|front|organization|individual|police):[a-z0-9]+(-[a-z0-9]+)*$")]
PROPOSAL_RULE = (
    "the first-ranked member of each cluster with a score leads it; the on-time leaders "
    "with the best share of their maximum get the Government emulation flag, at most 20% "
    "of the cluster leaders rounded down; the other leaders get the MPS emulation flag; any "
    f"other unit on time with at least {CERTIFICATE_MIN_RATIO:.0%} of its maximum gets a "
    "certificate of merit")


class StandingRead(BaseModel):
    unit_id: str
    rank: int
    score: float | None
    max: float | None
    submitted: bool
    on_time: bool | None
    revision: int | None
    breakdown: list[LineRead] = Field(
        description="criterion by criterion; a unit's token sees only its own (the other "
                    "members' rows have ranks and totals only)")


class StandingsRead(BaseModel):
    cluster_id: str
    period: int
    rubric_version: str | None
    computed_at: datetime
    tie_break: str
    standings: list[StandingRead]


class ProposalRead(BaseModel):
    unit_id: str
    cluster_id: str | None
    award: Literal["government_emulation_flag", "mps_emulation_flag", "certificate_of_merit"]
    reason: str


class ProposalsRead(BaseModel):
    period: int
    computed_at: datetime
    cluster_leaders: int
    government_flag_cap: int
    rule: str
    proposals: list[ProposalRead]


class DecisionRead(BaseModel):
    status: str
    head: str
    deputy: str | None
    reason: str | None
    decided_at: datetime


class SuggestedRead(BaseModel):
    head: str
    deputy: str | None
    basis: str


class LeadershipRead(BaseModel):
    cluster_id: str
    period: int = Field(description="the year the head and deputy serve")
    head: str
    deputy: str | None
    status: Literal["suggested", "confirmed", "overridden"]
    rule: str
    reason: str | None
    decided_at: datetime
    source: Literal["rule", "registry", "conference", "operator"] = Field(
        description="where it comes from: the rotation rule's suggestion (status "
                    "`suggested`: an input to the conference, not a decision), the unit "
                    "registry or the cluster conference's record (who was elected for that "
                    "year: PUT /v1/clusters/{cluster_id}/conferences/{period} on the "
                    "submissions service), or a decision taken on the retired scoring route")
    members: list[str]
    decisions: list[DecisionRead] = Field(description="every operator decision, oldest first")
    suggested: SuggestedRead | None = Field(
        default=None, description="what the rule suggested when the operator decided")


def member_view(principal: Principal, cluster_id: str, members: list[str]) -> None:
    """Accounts read every cluster; a unit's token only the clusters it belongs to."""
    if principal.is_operator or principal.unit_id in members:
        return
    raise Problem(403, "forbidden", f"a unit may read only its own cluster, not {cluster_id}")


def own_rows_only(principal: Principal, data: ClusterStandings) -> ClusterStandings:
    """A member sees every member's rank and total, and only its own breakdown."""
    if principal.is_operator:
        return data
    rows: list[Standing] = [row if row["unit_id"] == principal.unit_id
                            else {**row, "breakdown": []} for row in data["standings"]]
    return {**data, "standings": rows}


def build_cluster_router(*, rankings: StandingsPublisher, register: LeadershipRegister
                         ) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["clusters"])

    @router.get("/clusters/{cluster_id}/standings", response_model=StandingsRead)
    async def standings(cluster_id: ClusterId, period: Period, principal: CurrentPrincipal
                        ) -> StandingsRead:
        """Every member of the cluster that year, submitted or not, ranked. A unit's
        token: its own cluster only, with its own breakdown only."""
        data = await rankings.standings(cluster_id, period)
        if data is None:
            raise Problem(404, "not-found", f"{cluster_id} does not exist in {period}")
        member_view(principal, cluster_id, [row["unit_id"] for row in data["standings"]])
        return StandingsRead(**own_rows_only(principal, data))

    @router.get("/proposals", response_model=ProposalsRead)
    async def proposals(period: Period, principal: CurrentPrincipal) -> ProposalsRead:
        """The cluster leaders and other outstanding units proposed for recognition (a
        unit's token: those of its own cluster, and its own)."""
        data = await rankings.proposals(period)
        if not principal.is_operator:
            own = await rankings.clusters_of(principal.unit_id, period)
            data = {**data, "proposals": [
                p for p in data["proposals"]
                if p.get("cluster_id") in own or p["unit_id"] == principal.unit_id]}
        return ProposalsRead(**data, rule=PROPOSAL_RULE)

    @router.get("/clusters/{cluster_id}/leadership", response_model=LeadershipRead)
    async def leadership(cluster_id: ClusterId, principal: CurrentPrincipal,
                         period: Annotated[int, Query(
                             ge=2000, le=2100, description="the year they serve")]
                         ) -> LeadershipRead:
        """Next year's head and deputy (a unit's token: of its own cluster)."""
        view = await register.view(cluster_id, period)
        if view is None:
            raise Problem(404, "not-found", f"{cluster_id} does not exist in {period}")
        member_view(principal, cluster_id, view["members"])
        return LeadershipRead(**view)

    return router
