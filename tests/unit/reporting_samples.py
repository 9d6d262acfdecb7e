"""Sample read-model data for the reporting tests: a small registry, and reports, scores
and reminders of one period built by the service's own projections."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.reporting import projections
from services.reporting.cluster_report import cluster_report
from services.reporting.domain import national_report

PERIOD = 2026
AS_OF = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)

UNITS: list[dict[str, Any]] = [
    {"_id": "ministry:public-security", "name": "Bộ Công an",
     "name_en": "Ministry of Public Security", "type": "ministry"},
    {"_id": "police:bac-ninh", "name": "Công an tỉnh Bắc Ninh",
     "name_en": "Bac Ninh Provincial Police", "type": "police"},
    {"_id": "police:phu-tho", "name": "Công an tỉnh Phú Thọ",
     "name_en": "Phu Tho Provincial Police", "type": "police"},
    {"_id": "police:quang-ninh", "name": "Công an tỉnh Quảng Ninh",
     "name_en": "Quang Ninh Provincial Police", "type": "police"},
    {"_id": "province:ha-noi", "name": "Thành phố Hà Nội", "name_en": "Ha Noi",
     "type": "province"},
]

CLUSTERS: dict[str, dict[str, Any]] = {
    "mps-cluster-4": {"name": "Cụm thi đua số 4", "head": "police:phu-tho",
                      "deputy": "police:bac-ninh",
                      "members": ["police:phu-tho", "police:bac-ninh", "police:quang-ninh"]},
}


def accepted(unit_id: str, *, revision: int = 1, received: str = "2026-11-20T03:00:00+00:00",
             on_time: bool = True, contents: dict[str, Any] | None = None) -> dict[str, Any]:
    """The data of a vn.emulation.submission.accepted event."""
    return {
        "submission_id": f"{PERIOD}.{unit_id}.r{revision}", "unit_id": unit_id,
        "period": PERIOD, "revision": revision, "on_time": on_time, "received_at": received,
        "deadline": "2026-11-30T16:59:59+00:00", "unit_type": unit_id.split(":")[0],
        "content": {"unit_id": unit_id, "period": PERIOD, "self_assessment": {},
                    "contents": contents if contents is not None else {
                        "movement_quality": {"summary": f"Mô hình tự quản của {unit_id}",
                                             "indicators": {"models_replicated": 10}},
                        "propaganda": {"summary": "Tuyên truyền",
                                       "indicators": {"propaganda_sessions": 5.5}}}},
    }


def report_doc(data: dict[str, Any]) -> dict[str, Any]:
    """What the read model holds after applying one accepted submission."""
    first, latest = projections.submission_parts(data)
    return {"unit_id": data["unit_id"], "period": data["period"], **first, **latest}


def score(unit_id: str, total: float, maximum: float = 100.0) -> dict[str, Any]:
    return projections.score_doc({
        "unit_id": unit_id, "period": PERIOD, "total": total, "max": maximum,
        "breakdown": [{"criterion": "P1", "points": total, "max_points": maximum,
                       "explanation": "tự đánh giá 9/10"}],
        "rubric_version": "r1", "submission_id": f"{PERIOD}.{unit_id}.r1", "revision": 1,
        "on_time": True, "scored_at": "2026-11-20T03:00:01+00:00"}, "2026-11-20T03:00:01Z")


def sample_state() -> dict[str, Any]:
    """Phu Tho and Ha Noi on time, Bac Ninh late; Quang Ninh and the ministry missing,
    Quang Ninh reminded twice."""
    reports = {
        "police:phu-tho": report_doc(accepted("police:phu-tho")),
        "police:bac-ninh": report_doc(accepted(
            "police:bac-ninh", received="2026-12-02T03:00:00+00:00", on_time=False)),
        "province:ha-noi": report_doc(accepted(
            "province:ha-noi", received="2026-11-18T03:00:00+00:00",
            contents={"movement_quality": {"summary": "Hà Nội <nhân rộng> mô hình",
                                           "indicators": {"models_replicated": 32}}})),
    }
    scores = {"police:phu-tho": score("police:phu-tho", 88.5),
              "police:bac-ninh": score("police:bac-ninh", 71.0),
              "province:ha-noi": score("province:ha-noi", 95.0)}
    reminders = {"police:quang-ninh": [
        projections.reminder_doc("vn.emulation.notification.sent", "2026-11-23T01:00:05Z", {
            "unit_id": "police:quang-ninh", "period": PERIOD, "stage": "d-7", "channel": c,
            "recipient": r, "status": "sent", "sent_at": "2026-11-23T01:00:04Z"})
        for c, r in (("email", "thidua@congan-quangninh.example"), ("sms", "+84990000201"))]}
    return {"units": UNITS, "clusters": CLUSTERS, "reports": reports, "scores": scores,
            "reminders": reminders}


def national() -> dict:
    s = sample_state()
    proposals = projections.proposals_doc({
        "period": PERIOD, "computed_at": "2026-11-25T00:00:00Z", "cluster_leaders": 1,
        "government_flag_cap": 1, "proposals": [
            {"unit_id": "police:phu-tho", "cluster_id": "mps-cluster-4",
             "award": "government_emulation_flag", "reason": "dẫn đầu Cụm thi đua số 4"}]})
    return national_report(period=PERIOD, as_of=AS_OF, units=s["units"],
                           clusters=s["clusters"], reports=s["reports"], scores=s["scores"],
                           reminders=s["reminders"], proposals=proposals, movement=None)


def cluster() -> dict:
    s = sample_state()
    return cluster_report(cluster_id="mps-cluster-4", period=PERIOD, as_of=AS_OF,
                          cluster=CLUSTERS["mps-cluster-4"], registry_years={}, units=UNITS,
                          reports=s["reports"], scores=s["scores"], reminders=s["reminders"],
                          standings=None, proposals=None, leadership=None)
