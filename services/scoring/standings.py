"""Cluster standings and recognition proposals, as plain functions over score records
(models.ScoreRecord: total, max, on_time, first_received_at, revision, breakdown,
rubric_version). The rules are documented in docs/scoring.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.common.contracts import (
    ClusterStandings,
    RecognitionProposal,
    RecognitionProposals,
    Standing,
)
from services.scoring.domain import parse_time
from services.scoring.models import ScoreRecord

TIE_BREAK = ("reports on time only; higher total first, then the earlier first submission, "
             "then the unit id; late reports follow unranked, then members without a "
             "report, by unit id")
GOVERNMENT_FLAG = "government_emulation_flag"
MPS_FLAG = "mps_emulation_flag"
CERTIFICATE = "certificate_of_merit"
AWARD_ORDER = (GOVERNMENT_FLAG, MPS_FLAG, CERTIFICATE)
# At most this share of the cluster leaders is proposed for the Government flag. A
# platform default, configurable here (the plan gives no share, and no legal text for it
# can be checked in the seeds or docs): docs/sources.md, services/scoring/provenance.py.
GOVERNMENT_FLAG_SHARE_PERCENT = 20
# A unit that did not lead its cluster (or belongs to none) is proposed for a
# certificate of merit when it reported on time and reached this share of its maximum.
# A platform default, configurable here (docs/sources.md).
CERTIFICATE_MIN_RATIO = 0.85
_NEVER = datetime.max.replace(tzinfo=UTC)

# unit id -> its score in force (a certificate candidate's: what the proposals read).
Scores = Mapping[str, ScoreRecord]


def _num(x: float) -> str:
    return f"{x:g}"


def merit_key(unit_id: str, score: ScoreRecord, total: float) -> tuple[Any, ...]:
    """Sort key of scored units: higher `total` first, on time before late, the earlier
    first submission, then the unit id (so no two units ever tie)."""
    first = parse_time(score.get("first_received_at") or score.get("received_at")) or _NEVER
    return (-round(total, 4), 0 if score.get("on_time") else 1, first, unit_id)


def rank_members(members: Sequence[str], scores: Scores) -> list[Standing]:
    """Every member, submitted or not, in 1..n by TIE_BREAK. Only reports on time carry
    a score: a late one (its first report after the movement's deadline) is listed as
    submitted and late, without a score, after them, so a cluster conference never ranks
    reports that arrived after its season closed."""
    scored = sorted((m for m in set(members) if m in scores and scores[m].get("on_time")),
                    key=lambda m: merit_key(m, scores[m], float(scores[m]["total"])))
    late = sorted(m for m in set(members) if m in scores and not scores[m].get("on_time"))
    unscored = sorted(m for m in set(members) if m not in scores)
    rows: list[Standing] = []
    for unit in scored:
        s = scores[unit]
        rows.append({"unit_id": unit, "rank": len(rows) + 1, "score": s["total"],
                     "max": s["max"], "submitted": True, "on_time": True,
                     "revision": s.get("revision"), "breakdown": list(s.get("breakdown") or [])})
    for unit in late:
        rows.append({"unit_id": unit, "rank": len(rows) + 1, "score": None, "max": None,
                     "submitted": True, "on_time": False,
                     "revision": scores[unit].get("revision"), "breakdown": []})
    for unit in unscored:
        rows.append({"unit_id": unit, "rank": len(rows) + 1, "score": None, "max": None,
                     "submitted": False, "on_time": None, "revision": None, "breakdown": []})
    return rows


def rubric_version_of(members: Sequence[str], scores: Scores) -> str | None:
    """The rubric version the members were scored under; several only while a rescore
    is under way (then listed, comma-separated); None when nobody has a score."""
    versions = sorted({str(scores[m]["rubric_version"]) for m in members if m in scores})
    return ", ".join(versions) if versions else None


def cluster_standings(cluster_id: str, period: int, members: Sequence[str], scores: Scores,
                      computed_at: datetime) -> ClusterStandings:
    """The data of a vn.emulation.cluster.standings event (and of the API's answer)."""
    return {"cluster_id": cluster_id, "period": period,
            "rubric_version": rubric_version_of(members, scores),
            "computed_at": computed_at.astimezone(UTC).isoformat(), "tie_break": TIE_BREAK,
            "standings": rank_members(members, scores)}


def government_flag_cap(cluster_leaders: int) -> int:
    """20% of the cluster leaders, rounded down: "may not exceed" allows no rounding up."""
    return cluster_leaders * GOVERNMENT_FLAG_SHARE_PERCENT // 100


def _ratio(score: ScoreRecord) -> float:
    return float(score["total"]) / float(score["max"]) if score.get("max") else 0.0


def ranks_in_clusters(unit_id: str) -> bool:
    """Individuals (unit type `individual`) belong to no emulation cluster: a change of
    their scores can change the proposals (certificates), never a cluster's standings."""
    return not unit_id.startswith("individual:")


def certificate_candidate(score: ScoreRecord) -> bool:
    """Whether a score may earn a certificate of merit (unless its unit leads a cluster):
    reported on time with at least CERTIFICATE_MIN_RATIO of its maximum. Any unit, in a
    cluster or not (individuals too)."""
    return bool(score.get("on_time")) and _ratio(score) >= CERTIFICATE_MIN_RATIO


@dataclass(frozen=True)
class Leader:
    unit_id: str
    cluster_id: str
    size: int
    score: ScoreRecord


def recognition_proposals(period: int, standings: Mapping[str, Sequence[Standing]],
                          scores: Scores, computed_at: datetime) -> RecognitionProposals:
    """Who is proposed for what, with the reason (docs/scoring.md, "Proposals"):

    - the first-ranked member of each cluster that has a score (reported on time) leads it;
    - among the leaders that reported on time, the best by share of their maximum (then
      the tie-break) get the Government emulation flag, at most 20% of the leaders,
      rounded down;
    - every other leader gets the MPS emulation flag;
    - any other unit that reported on time with at least 85% of its maximum gets a
      certificate of merit.
    `standings` maps cluster id -> rank_members(...) rows; `scores` holds the scores of
    the period's cluster members and of every certificate candidate (certificate_candidate),
    cluster members or not: any other score changes nothing here."""
    leaders: list[Leader] = []
    cluster_of: dict[str, str] = {}
    for cid in sorted(standings):
        rows = standings[cid]
        for row in rows:
            cluster_of[row["unit_id"]] = cid
        top = next((r for r in rows if r["rank"] == 1), None)
        if top is not None and top["score"] is not None and top["unit_id"] in scores:
            leaders.append(Leader(top["unit_id"], cid, len(rows), scores[top["unit_id"]]))
    cap = government_flag_cap(len(leaders))

    def by_merit(leader: Leader) -> tuple[Any, ...]:
        return merit_key(leader.unit_id, leader.score, _ratio(leader.score))

    eligible = sorted((ld for ld in leaders if ld.score.get("on_time")), key=by_merit)
    flagged = {ld.unit_id: n for n, ld in enumerate(eligible[:cap], start=1)}
    proposals: list[RecognitionProposal] = []
    for ld in leaders:
        s = ld.score
        led = (f"led {ld.cluster_id} with {_num(s['total'])}/{_num(s['max'])} "
               f"(rank 1 of {ld.size})")
        if ld.unit_id in flagged:
            award = GOVERNMENT_FLAG
            why = (f"{led}, on time; {_ordinal(flagged[ld.unit_id])} of {len(eligible)} "
                   f"on-time leaders by share of the maximum; the Government flag goes to "
                   f"at most 20% of the {len(leaders)} cluster leaders, rounded down: {cap}")
        else:
            award = MPS_FLAG
            # Leaders reported on time (late reports are not ranked: rank_members).
            why = led + (f"; not among the best {cap} for the Government flag (20% of "
                         f"{len(leaders)} cluster leaders, rounded down)")
        proposals.append({"unit_id": ld.unit_id, "cluster_id": ld.cluster_id,
                          "award": award, "reason": why})
    leading = {ld.unit_id for ld in leaders}
    for unit in sorted(scores):
        s = scores[unit]
        if unit in leading or not certificate_candidate(s):
            continue
        member_of = cluster_of.get(unit)
        where = f" in {member_of}" if member_of else ""
        proposals.append({
            "unit_id": unit, "cluster_id": member_of, "award": CERTIFICATE,
            "reason": (f"outstanding{where}: {_num(s['total'])}/{_num(s['max'])} = "
                       f"{_ratio(s):.1%} of the maximum (at least "
                       f"{CERTIFICATE_MIN_RATIO:.0%}), on time")})
    proposals.sort(key=lambda p: (AWARD_ORDER.index(p["award"]),
                                  merit_key(p["unit_id"], scores[p["unit_id"]],
                                            _ratio(scores[p["unit_id"]]))))
    return {"period": period, "computed_at": computed_at.astimezone(UTC).isoformat(),
            "cluster_leaders": len(leaders), "government_flag_cap": cap,
            "proposals": proposals}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
