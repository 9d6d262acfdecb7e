"""The reporting service on the real stack: the national synthesis counts exactly what
was submitted, every format opens, cluster reports follow the scoring service's
events, and rebuilding the read models from the topics reproduces the same reports.

Periods 2050 (a small campaign), 2052 (scoring events produced by the test) and 2054
(reminder events out of order)."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
import time
import unicodedata
from collections import defaultdict
from pathlib import Path
from typing import Any

import pymongo
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from devstack import parts
from services.common.schemas import SCHEMAS_DIR
from tests.conftest import request_for
from tests.stackfixture import Stack, finished_job, unique_key, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PERIOD = 2050
EVENTS_PERIOD = 2052
REMINDER_PERIOD = 2054
# Times when the reminder campaign of the period sends nothing (every stage is either
# ahead or stale), so the only reminders are the ones this test produces.
BEFORE = "2050-11-10T09:00:00+07:00"
AFTER = "2050-12-10T10:00:00+07:00"
ON_TIME = ["police:phu-tho", "police:bac-ninh", "province:ha-noi", "ministry:public-security",
           "front:vietnam-fatherland-front"]
LATE = "police:quang-ninh"
REMINDED = "police:lang-son"
POLICE_OF_PERIOD = {"period": PERIOD, "movement": "vi-an-ninh"}
VOLATILE = ("as_of", "statement")


def example() -> dict[str, Any]:
    path = ROOT / "schemas" / "examples" / "submission-request.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def body_for(unit: str, n: int) -> dict[str, Any]:
    body = request_for(example(), unit, PERIOD)
    # Different figures per unit, so the sums prove what was added up.
    for item in body["contents"].values():
        item["indicators"] = {k: v + n for k, v in item.get("indicators", {}).items()}
    return body


def submit(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    with stack.client("submissions", stack.token(body["unit_id"])) as c:
        r = c.post("/v1/submissions", json=body, headers={"Idempotency-Key": unique_key()})
    assert r.status_code == 202, r.text
    return dict(r.json())


def notification(unit: str, channel: str, status: str, n: int) -> bytes:
    event = {
        "specversion": "1.0", "id": f"test-notif-{unit}-{PERIOD}-{channel}-{status}",
        "source": "urn:emulation:service:notifications",
        "type": f"vn.emulation.notification.{status}", "subject": unit,
        "time": f"2050-11-23T01:00:0{n}+00:00",
        "dataschema": "urn:emulation:schema:notification:v1",
        "datacontenttype": "application/json",
        "data": {"unit_id": unit, "period": PERIOD, "stage": "d-7", "channel": channel,
                 "recipient": "+84990000301" if channel == "sms" else "test@lang-son.example",
                 "status": status, "provider": "test", "sent_at": "2050-11-23T01:00:04+00:00"},
    }
    return json.dumps(event).encode()


def settled(stack: Stack, path: str, params: dict[str, Any]) -> dict[str, Any]:
    """The report once it stops changing (consumers done with what was sent)."""
    with stack.as_operator("reporting") as c:
        last: dict[str, Any] | None = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = c.get(path, params=params)
            assert r.status_code == 200, r.text
            now = {k: v for k, v in r.json().items() if k not in VOLATILE}
            if now == last:
                return now
            last = now
            time.sleep(1.0)
    raise AssertionError(f"{path} kept changing for 60 s")


@pytest.fixture(scope="module")
def campaign(stack: Stack) -> dict[str, Any]:
    """Five units report on time (Phu Tho amends), Quang Ninh reports late, Lang Son is
    reminded; returns what was submitted, once reporting has counted and scored it."""
    bodies: dict[str, dict[str, Any]] = {}
    receipts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    try:
        stack.set_clock(BEFORE)
        for n, unit in enumerate(ON_TIME):
            bodies[unit] = body_for(unit, n)
            receipts[unit].append(submit(stack, bodies[unit]))
        amended = copy.deepcopy(bodies["police:phu-tho"])
        amended["contents"]["propaganda"]["indicators"]["propaganda_sessions"] = 1000
        receipts["police:phu-tho"].append(submit(stack, amended))
        bodies["police:phu-tho"] = amended
        stack.set_clock(AFTER)
        bodies[LATE] = body_for(LATE, 9)
        receipts[LATE].append(submit(stack, bodies[LATE]))
    finally:
        stack.set_clock("2026-11-20T09:00:00+07:00")
    producer = stack.producer()
    for n, (channel, status) in enumerate([("sms", "sent"), ("email", "sent"),
                                           ("sms", "delivered")]):
        producer.send("emulation.notifications.v1", key=REMINDED.encode(),
                      value=notification(REMINDED, channel, status, n))
    producer.flush()
    producer.close()

    def ready() -> bool:
        with stack.as_operator("reporting") as c:
            rep = c.get("/v1/reports/national", params={"period": PERIOD}).json()
            police = c.get("/v1/reports/national", params=POLICE_OF_PERIOD).json()
        lang_son = [m for m in police["missing_units"] if m["unit_id"] == REMINDED]
        return (rep["expected"] == 66 and rep["submitted"] == 3 and rep["scored"] == 3
                and police["expected"] == 34 and police["scored"] == 3
                and lang_son != [] and len(lang_son[0]["reminders"]) == 2
                and any(r["status"] == "delivered" for r in lang_son[0]["reminders"]))

    wait_for("reporting to count, score and see the reminders", ready, timeout=90)
    report = settled(stack, "/v1/reports/national", {"period": PERIOD})
    police = settled(stack, "/v1/reports/national", POLICE_OF_PERIOD)
    return {"bodies": bodies, "receipts": receipts, "report": report, "police": police}


def test_the_national_report_counts_what_was_submitted(stack: Stack,
                                                       campaign: dict[str, Any]) -> None:
    """Issue 14: the synthesis for the Prime Minister (toan-dan, the default) counts each
    province once, by its People's Committee; the police are in vi-an-ninh only, with the
    MPS clusters."""
    rep, police = campaign["report"], campaign["police"]
    with stack.as_operator("submissions") as c:
        registry = c.get("/v1/units", params={"period": PERIOD}).json()
    assert len(registry) == 100 and rep["movement"] == "toan-dan"
    assert rep["expected"] == len([u for u in registry if u["type"] != "police"]) == 66
    provinces = [u["unit_id"] for u in rep["units"] if u["unit_id"].startswith("province:")]
    assert len(provinces) == len(set(provinces)) == 34
    assert not [u for u in rep["units"] if u["unit_id"].startswith("police:")]
    assert (rep["submitted"], rep["on_time"], rep["late"]) == (3, 3, 0)
    assert "police" not in rep["by_type"] and rep["by_cluster"] == {}
    for t in ("ministry", "province", "front"):
        assert rep["by_type"][t]["submitted"] == 1, t
    assert police["movement"] == "vi-an-ninh" and set(police["by_type"]) == {"police"}
    assert (police["expected"], police["submitted"], police["on_time"], police["late"]) == (
        34, 3, 2, 1)
    assert police["completeness"] == 0.0882 and police["timeliness"] == 0.0588
    c4 = police["by_cluster"]["mps-cluster-4"]
    assert (c4["name"], c4["expected"], c4["submitted"], c4["late"]) == (
        "Cụm thi đua số 4", 6, 3, 1)
    missing = [*rep["missing"], *police["missing"]]
    assert set(missing).isdisjoint([*ON_TIME, LATE]) and len(missing) == 94
    assert rep["deadline"] == "2050-11-30T16:59:59+00:00"
    with stack.as_operator("reporting") as c:
        now = c.get("/v1/reports/national", params={"period": PERIOD}).json()
    assert now["as_of"].startswith("2026-11-20")  # the services' (test) clock
    assert now["as_of"] in now["statement"]


def test_each_unit_shows_its_first_receipt_and_latest_revision(
        campaign: dict[str, Any]) -> None:
    rows = {r["unit_id"]: r for r in campaign["police"]["units"]}
    phu_tho, first = rows["police:phu-tho"], campaign["receipts"]["police:phu-tho"][0]
    assert phu_tho["revision"] == 2 and phu_tho["on_time"] is True
    assert phu_tho["name"] == "Công an tỉnh Phú Thọ"
    assert phu_tho["first_received_at"][:19] == first["received_at"][:19]
    assert rows[LATE]["on_time"] is False and rows[REMINDED]["submitted"] is False


def test_what_was_done_adds_up_the_latest_revisions(campaign: dict[str, Any]) -> None:
    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for body in campaign["bodies"].values():
        for content, item in body["contents"].items():
            for name, value in item.get("indicators", {}).items():
                expected[content][name] += value
    both = campaign["report"]["contents"], campaign["police"]["contents"]
    for content, sums in expected.items():
        added: dict[str, float] = defaultdict(float)
        for movement in both:
            for name, value in movement[content]["indicators"].items():
                added[name] += value
        assert added == sums, content
        assert sum(m[content]["units_reported"] for m in both) == 6
        assert 1 <= len(both[0][content]["examples"]) <= 3
        assert 1 <= len(both[1][content]["examples"]) <= 3
    police = both[1]["propaganda"]["indicators"]["propaganda_sessions"]
    assert police >= 1000  # the amendment (police:phu-tho)


def test_scores_and_reminders_are_those_of_the_other_services(
        stack: Stack, campaign: dict[str, Any]) -> None:
    rep = campaign["police"]
    with stack.as_operator("scoring") as c:
        totals = [c.get(f"/v1/scores/{u}", params={"period": PERIOD}).json()["total"]
                  for u in [*ON_TIME, LATE] if u.startswith("police:")]
    assert rep["scores"]["count"] == 3 == campaign["report"]["scores"]["count"]
    assert rep["scores"]["min"] == min(totals) and rep["scores"]["max"] == max(totals)
    assert sum(b["count"] for b in rep["scores"]["histogram"]) == 3
    reminded = next(m for m in rep["missing_units"] if m["unit_id"] == REMINDED)
    assert reminded["name"] == "Công an tỉnh Lạng Sơn"
    assert {(r["channel"], r["status"]) for r in reminded["reminders"]} == {
        ("sms", "delivered"), ("email", "sent")}


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    pages = PdfReader(io.BytesIO(data)).pages
    return unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in pages))


def test_the_national_report_in_every_format(stack: Stack, campaign: dict[str, Any]) -> None:
    with stack.as_operator("reporting") as c:
        def get(fmt: str, movement: str = "vi-an-ninh") -> Any:
            r = c.get("/v1/reports/national", params={"period": PERIOD, "format": fmt,
                                                      "movement": movement})
            assert r.status_code == 200, r.text
            return r
        assert get("csv").text.splitlines()[1].startswith(
            "national,2050,34,3,2,1,0.0882,0.0588")
        wb = load_workbook(io.BytesIO(get("xlsx", "toan-dan").content))
        summary = {row[0]: row[1] for row in wb["Tổng hợp"].iter_rows(values_only=True) if row}
        assert (summary["Đơn vị dự kiến"], summary["Đã báo cáo"]) == (66, 3)
        assert len(list(wb["Đơn vị"].iter_rows(min_row=2))) == 66
        text = pdf_text(get("pdf").content)
        for name in ("Công an tỉnh Phú Thọ", "Công an tỉnh Lạng Sơn", "Cụm thi đua số 4",
                     "BÁO CÁO TỔNG HỢP", "năm 2050", "Vì an ninh Tổ quốc"):
            assert name in text, name
        pm = pdf_text(get("pdf", "toan-dan").content)
        assert "Toàn dân bảo vệ an ninh Tổ quốc" in pm and "Công an tỉnh" not in pm
        page = get("html").text
        assert "Công an tỉnh Lạng Sơn" in page and "data-as-of=" in page


def test_the_cluster_report_and_who_may_read_it(stack: Stack, campaign: dict[str, Any]) -> None:
    url, params = "/v1/reports/clusters/mps-cluster-4", {"period": PERIOD}
    with stack.client("reporting", stack.token("police:phu-tho")) as c:
        # Scores arrive from the scoring service after the submissions: wait for the two
        # on time, ranked, and the late one, listed without a score (issue 14).
        rep = wait_for("the cluster's three reports", lambda: (
            r := c.get(url, params=params).json()) and sum(
                s["score"] is not None for s in r["standings"]) == 2 and sum(
                bool(s["submitted"]) for s in r["standings"]) == 3 and r, timeout=60)
        assert c.get("/v1/reports/clusters/mps-cluster-1", params=params).status_code == 403
        assert c.get("/v1/reports/national", params=params).status_code == 403
    with stack.client("reporting", stack.token("province:ha-noi")) as c:
        assert c.get(url, params=params).status_code == 403
    assert rep["name"] == "Cụm thi đua số 4" and rep["expected"] == 6
    assert (rep["submitted"], rep["on_time"], rep["late"]) == (3, 2, 1)
    assert {r["unit_id"] for r in rep["standings"]} == {m["unit_id"] for m in rep["members"]}
    assert sorted(rep["missing"]) == ["police:hung-yen", "police:lang-son",
                                      "police:thai-nguyen"]
    ranked = [r for r in rep["standings"] if r["score"] is not None]
    # A member sees every rank and total, and only its own breakdown and reminders'
    # recipients; an account sees them all.
    assert len(ranked) == 2
    late = [r for r in rep["standings"] if r["submitted"] and r["score"] is None]
    assert len(late) == 1 and late[0]["on_time"] is False
    assert [r["unit_id"] for r in ranked if r["breakdown"]] == ["police:phu-tho"]
    assert all("recipient" not in reminder for row in rep["missing_units"]
               for reminder in row["reminders"])
    with stack.client("reporting", stack.operator) as c:
        full = c.get(url, params=params).json()
    assert all(r["breakdown"] for r in full["standings"] if r["score"] is not None)
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    with stack.as_operator("reporting") as c:
        pdf = c.get(url, params={**params, "format": "pdf"})
        assert "Công an tỉnh Phú Thọ" in pdf_text(pdf.content)
        csv = c.get(url, params={**params, "format": "csv"}).text
        assert csv.startswith("rank,unit_id,name")
        assert c.get("/v1/reports/clusters/mps-cluster-77", params=params).status_code == 404


def scoring_event(name: str, data: dict[str, Any], subject: str, n: int) -> bytes:
    event = json.loads((ROOT / "schemas" / "examples" / f"{name}.json").read_text("utf-8"))
    event.update(id=f"test-{name}-{EVENTS_PERIOD}-{n}", subject=subject, data=data,
                 time="2052-11-20T03:15:02+00:00")
    return json.dumps(event).encode()


@pytest.fixture(scope="module")
def scoring_events(stack: Stack) -> dict[str, Any]:
    names = ("cluster-standings", "recognition-proposals", "cluster-leadership")
    missing = [n for n in names if not (SCHEMAS_DIR / "events" / f"{n}.v1.json").exists()]
    if missing:
        pytest.skip(f"schemas {missing} not written yet (the scoring service owns them): "
                    "the record loop would dead-letter these events")

    def row(unit: str, rank: int, score: float | None) -> dict[str, Any]:
        return {"unit_id": unit, "rank": rank, "score": score,
                "max": 100 if score is not None else None, "submitted": score is not None,
                "on_time": True if score is not None else None,
                "revision": 1 if score is not None else None,
                "breakdown": [{"criterion": "P1", "points": score, "max_points": 100,
                               "explanation": "kiểm thử"}] if score is not None else []}

    def standings(computed_at: str, leader: str) -> dict[str, Any]:
        others = [u for u in ("police:phu-tho", "police:bac-ninh") if u != leader]
        return {"cluster_id": "mps-cluster-4", "period": EVENTS_PERIOD,
                "rubric_version": "test-1", "computed_at": computed_at,
                "tie_break": "higher total first", "standings": [
                    row(leader, 1, 90.0), row(others[0], 2, 80.0),
                    row("police:quang-ninh", 3, None)]}

    newer, older = "2052-11-20T03:00:00+00:00", "2052-11-19T03:00:00+00:00"
    records = [
        ("cluster-standings", standings(newer, "police:bac-ninh"), "mps-cluster-4"),
        # An older computation arriving later must not replace the newer one.
        ("cluster-standings", standings(older, "police:phu-tho"), "mps-cluster-4"),
        ("recognition-proposals", {
            "period": EVENTS_PERIOD, "computed_at": newer, "cluster_leaders": 6,
            "government_flag_cap": 1, "proposals": [
                {"unit_id": "police:bac-ninh", "cluster_id": "mps-cluster-4",
                 "award": "mps_emulation_flag", "reason": "dẫn đầu cụm"},
                {"unit_id": "police:ha-noi", "cluster_id": "mps-cluster-1",
                 "award": "mps_emulation_flag", "reason": "dẫn đầu cụm 1"}]},
         f"period:{EVENTS_PERIOD}"),
        ("cluster-leadership", {
            "cluster_id": "mps-cluster-4", "period": EVENTS_PERIOD + 1,
            "head": "police:bac-ninh", "deputy": "police:quang-ninh", "status": "confirmed",
            "rule": "rotation", "reason": "hội nghị cụm", "decided_at": newer},
         "mps-cluster-4"),
    ]
    producer = stack.producer()
    for n, (name, data, subject) in enumerate(records):
        producer.send("emulation.scores.v1", key=subject.encode(),
                      value=scoring_event(name, data, subject, n))
    producer.flush()
    producer.close()

    def seen() -> Any:
        with stack.as_operator("reporting") as c:
            rep = c.get("/v1/reports/clusters/mps-cluster-4",
                        params={"period": EVENTS_PERIOD}).json()
        return rep if rep["next_year_leadership"] and rep["proposals"] else None

    return dict(wait_for("the scoring events in the cluster report", seen, timeout=60))


def test_cluster_report_follows_the_scoring_services_events(
        stack: Stack, scoring_events: dict[str, Any]) -> None:
    rep = scoring_events
    assert rep["standings_source"] == "scoring"
    assert rep["standings_computed_at"] == "2052-11-20T03:00:00+00:00"  # the newer one
    assert [(r["unit_id"], r["rank"]) for r in rep["standings"]] == [
        ("police:bac-ninh", 1), ("police:phu-tho", 2), ("police:quang-ninh", 3)]
    assert rep["standings"][0]["name"] == "Công an tỉnh Bắc Ninh"
    assert [p["unit_id"] for p in rep["proposals"]] == ["police:bac-ninh"]
    lead = rep["next_year_leadership"]
    assert (lead["period"], lead["status"], lead["source"]) == (2053, "confirmed", "scoring")
    assert lead["head"]["name"] == "Công an tỉnh Bắc Ninh"
    assert lead["deputy"]["name"] == "Công an tỉnh Quảng Ninh"
    with stack.as_operator("reporting") as c:
        national = c.get("/v1/reports/national", params={
            "period": EVENTS_PERIOD, "movement": "vi-an-ninh"}).json()
        text = pdf_text(c.get("/v1/reports/clusters/mps-cluster-4", params={
            "period": EVENTS_PERIOD, "format": "pdf"}).content)
    assert [p["award_label"] for p in national["proposals"]["items"]] == [
        "Cờ thi đua của Bộ Công an"] * 2
    assert "Cụm trưởng: Công an tỉnh Bắc Ninh" in text


def reminder_event(status: str, time_: str, sent_at: str | None) -> bytes:
    event = json.loads(notification(REMINDED, "sms", status, 0))
    event.update(id=f"test-notif-{REMINDER_PERIOD}-{status}", time=time_)
    event["data"].update(period=REMINDER_PERIOD, stage="d-3", status=status, sent_at=sent_at)
    return json.dumps(event).encode()


def test_a_reminder_delivered_before_it_was_sent_keeps_when_it_went_out(
        stack: Stack) -> None:
    """The receipt (no `sent_at`) is consumed before the older `sent` event: the newer
    status stays and the stale event still says when the reminder went out, as if they
    had come in order."""
    producer = stack.producer()
    for status, time_, sent_at in [
            ("delivered", "2054-11-23T01:00:09+00:00", None),
            ("sent", "2054-11-23T01:00:05+00:00", "2054-11-23T01:00:04+00:00")]:
        producer.send("emulation.notifications.v1", key=REMINDED.encode(),
                      value=reminder_event(status, time_, sent_at))
    producer.flush()
    producer.close()

    def reminders() -> Any:
        with stack.as_operator("reporting") as c:
            rep = c.get("/v1/reports/national", params={
                "period": REMINDER_PERIOD, "movement": "vi-an-ninh"}).json()
        found = [m["reminders"] for m in rep["missing_units"] if m["unit_id"] == REMINDED]
        if found and found[0] and found[0][0]["sent_at"]:
            return found[0], rep["last_event_at"]
        return None

    found, last_event_at = wait_for("the reminder's sent_at in the report", reminders,
                                    timeout=60)
    assert [(r["status"], r["sent_at"]) for r in found] == [
        ("delivered", "2054-11-23T01:00:04+00:00")]
    # The report reflects both events, so its watermark is at least the newer one's time.
    assert last_event_at >= "2054-11-23T01:00:09+00:00"


def redeliver_first_revision(stack: Stack, campaign: dict[str, Any]) -> None:
    """The first revision of Phu Tho's report again, after its amendment."""
    sid = campaign["receipts"]["police:phu-tho"][0]["submission_id"]
    found = stack.read_topic("emulation.submissions.v1", lambda e: e.get("id") == sid)
    found[0].pop("_headers")
    producer = stack.producer()
    producer.send("emulation.submissions.v1", key=b"police:phu-tho",
                  value=json.dumps(found[0]).encode())
    producer.flush()
    producer.close()


def snapshot(stack: Stack) -> dict[str, Any]:
    out = {"national": settled(stack, "/v1/reports/national", {"period": PERIOD}),
           "police": settled(stack, "/v1/reports/national", POLICE_OF_PERIOD),
           "cluster": settled(stack, "/v1/reports/clusters/mps-cluster-4", {"period": PERIOD})}
    out["reminded"] = settled(stack, "/v1/reports/national",
                              {"period": REMINDER_PERIOD, "movement": "vi-an-ninh"})
    if (SCHEMAS_DIR / "events" / "cluster-standings.v1.json").exists():
        out["events"] = settled(stack, "/v1/reports/clusters/mps-cluster-4",
                                {"period": EVENTS_PERIOD})
    return out


def test_rebuilding_from_the_topics_reproduces_the_reports(
        stack: Stack, campaign: dict[str, Any]) -> None:
    redeliver_first_revision(stack, campaign)
    before = snapshot(stack)
    # The redelivery changed nothing (the newest event may be another test's since).
    assert {**before["national"], "last_event_at": None} == {
        **campaign["report"], "last_event_at": None}
    assert before["national"]["last_event_at"] is not None

    with stack.as_operator("reporting") as c:
        job = finished_job(c, c.post("/v1/admin/rebuild"))
    assert job["state"] == "succeeded", job
    result = job["result"]
    assert job["done"] == job["total"] == sum(result["end_offsets"].values())
    assert result["applied"]["emulation.submissions.v1"] >= 8
    assert result["applied"]["emulation.units.v1"] >= 100
    assert result["end_offsets"]["emulation.submissions.v1"] >= 8
    assert snapshot(stack) == before

    # The database lost altogether: the command alone brings the reports back.
    mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(stack.cfg.mongo_url)
    try:
        mongo.drop_database("emulation_reporting")
    finally:
        mongo.close()
    with stack.as_operator("reporting") as c:
        empty = c.get("/v1/reports/national", params={"period": PERIOD}).json()
    assert (empty["expected"], empty["submitted"]) == (0, 0)
    env = {**os.environ, "EMULATION_KAFKA_BOOTSTRAP": stack.cfg.kafka_bootstrap,
           "EMULATION_MONGO_URL": stack.cfg.mongo_url,
           **parts.kafka_env(stack.cfg, "reporting")}
    done = subprocess.run([sys.executable, "-m", "services.reporting", "rebuild"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["applied"]["emulation.submissions.v1"] >= 8
    assert snapshot(stack) == before


def test_export_writes_every_report_of_the_period(stack: Stack, campaign: dict[str, Any],
                                                  tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.reporting", "export", "--period", str(PERIOD),
         "--dir", str(tmp_path), "--url", stack.cfg.service_url("reporting"),
         "--credentials", str(stack.cfg.credentials)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    names = {p.name for p in tmp_path.iterdir()}
    for name in (f"national-{PERIOD}", f"national-{PERIOD}-vi-an-ninh"):
        assert {f"{name}.{f}" for f in ("html", "pdf", "xlsx", "csv", "json")} <= names
    clusters = campaign["police"]["by_cluster"]
    assert {f"{cid}-{PERIOD}.pdf" for cid in clusters} <= names
    assert len(names) == 10 + 4 * len(clusters)  # both movements' syntheses
    exported = json.loads((tmp_path / f"national-{PERIOD}.json").read_text("utf-8"))
    police = json.loads((tmp_path / f"national-{PERIOD}-vi-an-ninh.json").read_text("utf-8"))
    assert (exported["movement"], exported["submitted"]) == ("toan-dan", 3)
    assert (police["movement"], police["submitted"]) == ("vi-an-ninh", 3)
    assert "Công an tỉnh Phú Thọ" in pdf_text(
        (tmp_path / f"national-{PERIOD}-vi-an-ninh.pdf").read_bytes())
    assert f"/dashboard?period={PERIOD}" in done.stdout
