"""What the read models keep of each event, as plain functions (no I/O).

Each function returns the document to store and, where events of one key may arrive
more than once or out of order, an `order` value: the store replaces a document only
with one of a greater order, so replaying the topics gives the same result as live."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.common import event_types, individuals
from services.common.contracts import (
    ClusterLeadership,
    ClusterStandings,
    CriterionScore,
    NotificationV1,
    RecognitionProposals,
    ScoreComputedV1,
    SubmissionAcceptedV1,
)
from services.common.envelope import Event
from services.reporting.models import (
    ContentDigest,
    FirstReport,
    LatestRevision,
    LeadershipDoc,
    Proposal,
    ProposalsDoc,
    ReminderDoc,
    ScoreDoc,
    ScoreLine,
    StandingRow,
    StandingsDoc,
)

SUMMARY_LIMIT = 2000  # characters of each content's summary kept for the reports

# At the same instant the later state wins; an unknown outcome is resolved later (sent,
# escalated or failed).
STATUS_RANK = {"deferred": 0, "unknown": 1, "sent": 2, "cancelled": 3, "escalated": 4,
               "failed": 5, "delivered": 6}


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time as an aware UTC datetime; None when absent or unreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def order_stamp(when: datetime | None) -> str:
    """A sortable text for a time (fixed width, UTC), '' when unknown."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if when else ""


def derived_order(data: ClusterStandings | RecognitionProposals | ClusterLeadership,
                  when: datetime | None) -> str:
    """The order of a scoring-derived event (standings, proposals, leadership): its
    `sequence` (wall-clock microseconds of the computation), else its time in the same
    unit, so the later computation wins even when the business clock went back."""
    seq = data.get("sequence")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        seq = max(0, int(when.timestamp() * 1_000_000)) if when else 0
    return f"{seq:020d}"


def unit_key(unit_id: str, period: int) -> str:
    return f"{unit_id}|{period}"


def submission_parts(data: SubmissionAcceptedV1) -> tuple[FirstReport, LatestRevision]:
    """(first-report fields, latest-revision fields) of an accepted submission.

    The first report decides timeliness; the latest revision says what was done."""
    revision = int(data["revision"])
    first: FirstReport = {
        "first_revision": revision,
        "first_submission_id": data.get("submission_id"),
        "first_received_at": parse_time(data.get("received_at")),
        "on_time": bool(data.get("on_time")),
    }
    content = data.get("content") or {}
    contents: dict[str, ContentDigest] = {}
    for name, item in (content.get("contents") or {}).items():
        if not isinstance(item, dict):
            continue
        indicators = {k: v for k, v in (item.get("indicators") or {}).items()
                      if isinstance(v, int | float) and not isinstance(v, bool)}
        contents[name] = {"summary": str(item.get("summary", ""))[:SUMMARY_LIMIT],
                          "indicators": indicators,
                          "evidence_count": len(item.get("evidence") or [])}
    latest: LatestRevision = {
        "revision": revision,
        "latest_submission_id": data.get("submission_id"),
        "latest_received_at": parse_time(data.get("received_at")),
        "deadline": parse_time(data.get("deadline")),
        "unit_type": data.get("unit_type") or str(data["unit_id"]).split(":")[0],
        "contents": contents,
        "flags_held": list(content.get("flags_held") or []),
    }
    if individuals.is_individual(str(data["unit_id"])):
        latest["person_group"] = individuals.group_or_none(content.get("self_assessment"))
    return first, latest


def score_doc(data: ScoreComputedV1, event_time: str) -> ScoreDoc:
    """The current score of a unit; a newer revision, or a rescoring of the same
    revision (a later `scored_at`), replaces it."""
    scored_at = parse_time(data.get("scored_at")) or parse_time(event_time)
    revision = int(data.get("revision") or 0)
    return {
        "_id": unit_key(data["unit_id"], data["period"]),
        "unit_id": data["unit_id"], "period": int(data["period"]),
        "total": data.get("total"), "max": data.get("max"),
        "breakdown": [_line(x) for x in data.get("breakdown") or [] if isinstance(x, dict)],
        "rubric_version": data.get("rubric_version"),
        "submission_id": data.get("submission_id"), "revision": revision,
        "on_time": data.get("on_time"), "scored_at": scored_at,
        "order": f"{revision:08d}|{order_stamp(scored_at)}",
    }


def _line(item: CriterionScore) -> ScoreLine:
    return {"criterion": str(item.get("criterion", "")), "points": item.get("points"),
            "max_points": item.get("max_points"),
            "explanation": str(item.get("explanation", ""))}


def reminder_doc(event_type: str, event_time: str, data: NotificationV1) -> ReminderDoc:
    """One reminder (unit, period, stage, channel, recipient) with its latest status."""
    status = str(data.get("status") or event_type.rsplit(".", 1)[-1])
    when = parse_time(event_time)
    key = "|".join(str(data.get(k, "")) for k in ("unit_id", "period", "stage", "channel",
                                                  "recipient"))
    return {
        "_id": key, "unit_id": data["unit_id"], "period": int(data["period"]),
        "stage": str(data.get("stage", "")), "channel": str(data.get("channel", "")),
        "recipient": str(data.get("recipient", "")), "status": status,
        "sent_at": parse_time(data.get("sent_at")), "updated_at": when,
        "order": f"{order_stamp(when)}|{STATUS_RANK.get(status, 0)}",
    }


def standings_doc(data: ClusterStandings) -> StandingsDoc:
    computed_at = parse_time(data.get("computed_at"))
    rows: list[StandingRow] = []
    for row in data.get("standings") or []:
        if not isinstance(row, dict) or "unit_id" not in row:
            continue
        rows.append({
            "unit_id": row["unit_id"], "rank": row.get("rank"), "score": row.get("score"),
            "max": row.get("max"), "submitted": bool(row.get("submitted")),
            "on_time": row.get("on_time"), "revision": row.get("revision"),
            "breakdown": [_line(x) for x in row.get("breakdown") or [] if isinstance(x, dict)],
        })
    return {
        "_id": unit_key(data["cluster_id"], data["period"]),
        "cluster_id": data["cluster_id"], "period": int(data["period"]),
        "rubric_version": data.get("rubric_version"), "tie_break": data.get("tie_break"),
        "computed_at": computed_at, "standings": rows,
        "order": derived_order(data, computed_at),
    }


def proposals_doc(data: RecognitionProposals) -> ProposalsDoc:
    computed_at = parse_time(data.get("computed_at"))
    items: list[Proposal] = [
        {"unit_id": p["unit_id"], "cluster_id": p.get("cluster_id"),
         "award": str(p.get("award", "")), "reason": str(p.get("reason", ""))}
        for p in data.get("proposals") or [] if isinstance(p, dict) and "unit_id" in p
    ]
    return {
        "_id": str(int(data["period"])), "period": int(data["period"]),
        "computed_at": computed_at, "cluster_leaders": data.get("cluster_leaders"),
        "government_flag_cap": data.get("government_flag_cap"), "proposals": items,
        "order": derived_order(data, computed_at),
    }


def leadership_doc(data: ClusterLeadership) -> LeadershipDoc:
    """Head and deputy of a cluster for the year they serve (`period`)."""
    decided_at = parse_time(data.get("decided_at"))
    return {
        "_id": unit_key(data["cluster_id"], data["period"]),
        "cluster_id": data["cluster_id"], "period": int(data["period"]),
        "head": data.get("head"), "deputy": data.get("deputy"),
        "status": data.get("status"), "rule": data.get("rule"), "reason": data.get("reason"),
        "decided_at": decided_at, "order": derived_order(data, decided_at),
    }


def fold_submissions(events: list[Event]) -> list[Event]:
    """Of one record key's accepted submissions replayed together (in their order), those
    whose effect on the read models is not contained in another's: per (unit, period),
    the lowest revision (`first`, kept with `$min`), the highest (`latest`, kept with
    `$max`) and the latest event time (the watermark). Applying only them leaves the
    same documents as applying every one, in any order (store.py). An event that is not
    an accepted submission, or whose unit, period or revision is unreadable, is always
    kept, so its handler decides about it as before."""
    groups: dict[tuple[str, int], list[tuple[int, int]]] = {}  # -> [(revision, index)]
    kept: set[int] = set()
    for i, event in enumerate(events):
        data = event.data if isinstance(event.data, dict) else {}
        unit, period, revision = data.get("unit_id"), data.get("period"), data.get("revision")
        if (event.type != event_types.SUBMISSION_ACCEPTED or not isinstance(unit, str)
                or not isinstance(period, int) or isinstance(period, bool)
                or not isinstance(revision, int) or isinstance(revision, bool)):
            kept.add(i)
            continue
        groups.setdefault((unit, period), []).append((revision, i))
    for members in groups.values():
        low, high = min(r for r, _ in members), max(r for r, _ in members)
        kept.update(i for r, i in members if r in (low, high))
        kept.add(max((i for _, i in members),
                     key=lambda i: order_stamp(parse_time(events[i].time))))
    return [event for i, event in enumerate(events) if i in kept]
