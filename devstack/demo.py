"""`make demo`: one reporting season on the real local stack, in a few minutes.

The clock runs from 1 November to 3 December of the current period. Units hand in their
reports as they would (most in the last two weeks, some amended, a few late, some
never, a few invalid ones refused with clear errors); reminders go out by e-mail and
SMS to the local sinks; the MPS clusters hold their conferences on 27 November; at the
end the national synthesis is written to reports/<period>/ and the dashboard is up."""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from devstack import __main__ as cli
from devstack import parts
from devstack.config import ROOT, SERVICES, StackConfig
from services.common import individuals, movements
from services.common.movements import IDS as MOVEMENT_IDS

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CRITERIA = {"ministry": ["M1", "M2", "M3", "M4"], "province": ["P1", "P2", "P3", "P4"],
            "police": ["P1", "P2", "P3", "P4"], "front": ["F1", "F2", "F3", "F4"],
            "organization": ["O1", "O2"], "individual": ["I1", "I2"]}
SEED = 2026
# Criterion group 5: two units of toan-dan report some of their people's records under
# pseudonymous ids (docs/submissions.md, "Individuals"), each with its own token: the
# person group (5a: I1, 5b: I2), the content the rubric scores it on, and what was done.
PEOPLE: dict[str, list[tuple[str, str, dict[str, int], str]]] = {
    "ministry:national-defence": [
        ("I1", "movement_quality", {"initiatives": 3},
         "Sáng kiến bảo đảm an ninh, trật tự tại doanh trại; vận động người thân tham gia "
         "tổ tự quản ở khu dân cư."),
        ("I1", "movement_quality", {"initiatives": 1},
         "Phối hợp tuần tra khu vực biên giới cùng lực lượng nòng cốt ở cơ sở.")],
    "province:quang-ninh": [
        ("I1", "movement_quality", {"initiatives": 2},
         "Giải pháp bảo vệ an ninh, trật tự tại cảng biển."),
        ("I2", "propaganda", {"propaganda_sessions": 6},
         "Tuyên truyền phòng, chống lừa đảo trên không gian mạng cho người cao tuổi."),
        ("I2", "propaganda", {"propaganda_sessions": 2},
         "Lan tỏa mô hình “tự quản, tự phòng” của khu phố trên mạng xã hội.")],
}


@dataclass
class Plan:
    unit_id: str
    day: date          # first report
    amend_day: date | None
    late_amendment: bool = False


def make_plans(units: list[str], period: int, rng: random.Random) -> list[Plan]:
    """Most report in the last two weeks, about a tenth amend, a few are late, some never."""
    order = units[:]
    rng.shuffle(order)
    never, late = order[:7], order[7:12]
    plans = []
    for unit in order[7:]:
        # The last day of the unit's movement: police units report before their cluster
        # conference (27 November), the others by 30 November.
        last = movements.MOVEMENTS[movements.movement_of(unit)].deadline[1]
        if unit in late:
            day = date(period, 12, rng.choice([1, 1, 2]))
        elif rng.random() < 0.15:
            day = date(period, 11, rng.randint(2, 16))
        else:
            day = date(period, 11, min(last, 17 + int(rng.triangular(0, 14, 12))))
        amend = None
        if unit not in late and rng.random() < 0.12 and day.day < last - 1:
            amend = day + timedelta(days=rng.randint(1, min(4, last - day.day)))
        plans.append(Plan(unit, day, amend))
    # One unit tries to amend after the deadline: refused, then an operator unlocks it.
    on_time = [p for p in plans if p.day.month == 11 and p.amend_day is None]
    on_time[0].late_amendment = True
    print(f"  plan: {len(plans)} of {len(units)} units report ({len(late)} late), "
          f"{sum(p.amend_day is not None for p in plans)} amend, {len(never)} never report")
    return plans


def body_for(base: dict[str, Any], unit_id: str, period: int, rng: random.Random
             ) -> dict[str, Any]:
    body = copy.deepcopy(base)
    body["unit_id"], body["period"] = unit_id, period
    body["self_assessment"] = {c: {"rating": rng.randint(5, 10)}
                               for c in CRITERIA[unit_id.split(":")[0]]}
    for name in list(body["contents"]):
        content = body["contents"][name]
        if rng.random() < 0.08:
            del body["contents"][name]  # a content not reported: a deduction
            continue
        content["indicators"] = {k: round(v * rng.uniform(0.3, 1.6))
                                 for k, v in content.get("indicators", {}).items()}
        if rng.random() < 0.3:
            content.pop("evidence", None)
    body.pop("flags_held", None)
    if rng.random() < 0.2:
        body["flags_held"] = ["provincial_emulation_flag"]
    return body


def person_bodies(units: list[str], period: int) -> list[dict[str, Any]]:
    """The people's records of PEOPLE whose unit is in the year's registry: pseudonymous
    ids (the unit's slug and an opaque part, no name), one person group each."""
    bodies = []
    for unit in (u for u in PEOPLE if u in units):
        unit_type, slug = unit.split(":")
        for n, (criterion, content, indicators, summary) in enumerate(PEOPLE[unit], 1):
            bodies.append({
                "unit_id": f"{individuals.PREFIX}{unit_type}-{slug}-p{period}{n:02d}",
                "period": period, "self_assessment": {criterion: {"rating": 9 - n}},
                "contents": {content: {"summary": summary, "indicators": indicators}}})
    return bodies


class Season:
    def __init__(self, cfg: StackConfig, period: int) -> None:
        self.cfg, self.period = cfg, period
        creds = json.loads(cfg.credentials.read_text())
        # The bootstrap admin `make up` created (named accounts: services/common/accounts).
        self.operator, self.tokens = creds["admin"], creds["units"]
        self.base = json.loads(
            (ROOT / "schemas/examples/submission-request.json").read_text("utf-8"))
        self.accepted: set[str] = set()
        self.people: set[str] = set()  # individuals' records (counted apart from units)
        self.refusals: list[str] = []

    def client(self, service: str, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.operator}"}
        if token is None or token == self.operator:  # the admin's actions are audited
            headers["Audit-Reason"] = "demo season"
        return httpx.Client(base_url=self.cfg.service_url(service), timeout=900,
                            headers=headers)

    def at(self, day: date, hour: int, minute: int = 0) -> None:
        when = datetime(day.year, day.month, day.day, hour, minute, tzinfo=VN).isoformat()
        for name in SERVICES:
            with self.client(name) as c:
                c.put("/v1/admin/clock", json={"now": when}).raise_for_status()

    def tick(self) -> None:
        with self.client("notifications") as c:
            c.post("/v1/admin/tick").raise_for_status()

    def submit(self, body: dict[str, Any], token: str | None = None) -> httpx.Response:
        """With the unit's token (a person's record: the token of the unit reporting it)."""
        unit_id = body["unit_id"]
        sponsor = individuals.sponsor_or_none(unit_id)
        with self.client("submissions", token or self.tokens.get(sponsor or unit_id)) as c:
            r = c.post("/v1/submissions", json=body)
        if r.status_code == 202:
            (self.people if sponsor else self.accepted).add(unit_id)
        return r

    def settle(self) -> None:
        """Wait until notifications knows every accepted report (so no reminder goes to a
        unit that has reported) and reporting counts them."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.client("notifications") as c:
                known = sum(c.get(f"/v1/deadlines/{self.period}", params={"movement": m}
                                  ).json()["submitted"] for m in MOVEMENT_IDS)
            with self.client("reporting") as c:
                reps = [c.get("/v1/reports/national", params={
                    "period": self.period, "movement": m}).json() for m in MOVEMENT_IDS]
            counted = sum(r["submitted"] for r in reps)
            people = sum(r["individuals"]["submitted"] for r in reps)
            if known >= len(self.accepted) and counted >= len(self.accepted) \
                    and people >= len(self.people):
                return
            time.sleep(0.2)

    def sent(self) -> dict[str, int]:
        """Messages the sinks received: e-mails, and SMS counted once whatever their
        number of parts (an SMPP message's first part, or one without a UDH)."""
        sinks = parts.sinks_dir(self.cfg)
        smpp = [r for r in _records(sinks / "smpp.jsonl") if r.get("command") == "submit_sm"]
        return {"smtp": len(_records(sinks / "smtp.jsonl")),
                "smpp": sum(1 for r in smpp if (r.get("udh") or {}).get("seq", 1) == 1),
                "http_sms": len(_records(sinks / "http_sms.jsonl"))}


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def invalid_attempts(season: Season, rng: random.Random) -> None:
    period = season.period
    wrong = body_for(season.base, "province:ha-noi", period, rng)
    wrong["self_assessment"] = {c: {"rating": 7} for c in CRITERIA["ministry"]}
    merged = body_for(season.base, "province:hoa-binh", period, rng)
    bad_hash = body_for(season.base, "province:can-tho", period, rng)
    bad_hash["contents"]["implement_directives"]["evidence"] = [
        {"url": "https://cantho.example/report.pdf", "sha256": "not-a-hash"}]
    for what, body, token in (
            ("a province answering the ministries' criteria", wrong, None),
            ("a province merged in 2025", merged, season.operator),
            ("an evidence reference with a bad hash", bad_hash, None)):
        r = season.submit(body, token)
        detail = r.json().get("detail", "") if r.status_code != 202 else "accepted?!"
        season.refusals.append(f"{what}: {r.status_code} {detail[:150]}")


def conferences(season: Season) -> list[str]:
    """27 November: each cluster's conference reviews the platform's standings and
    suggestions, agrees on its proposals and elects next year's head and deputy; an
    operator records what it decided (here the demo's conferences follow the
    suggestions, as a real one may or may not)."""
    lines, period = [], season.period
    with season.client("reporting") as c:
        clusters = c.get("/v1/reports/national", params={
            "period": period, "movement": "vi-an-ninh"}).json()["by_cluster"]
    with season.client("scoring") as c:
        proposals = c.get("/v1/proposals", params={"period": period}).json()["proposals"]
        suggested: dict[str, tuple[list[dict[str, Any]], dict[str, Any] | None]] = {}
        for cid in clusters:
            st = c.get(f"/v1/clusters/{cid}/standings", params={"period": period})
            top = [s for s in st.json()["standings"] if s["score"] is not None][:3]
            found = c.get(f"/v1/clusters/{cid}/leadership", params={"period": period + 1})
            suggested[cid] = (top, found.json() if found.status_code == 200 else None)
    with season.client("submissions") as c:
        for cid, info in clusters.items():
            top, lead = suggested[cid]
            podium = ", ".join(f"{s['unit_id'].split(':')[1]} {s['score']:.1f}" for s in top)
            if not lead:
                lines.append(f"  {info['name']} ({cid}): {podium or 'no scores yet'}")
                continue
            agreed = [{"unit_id": p["unit_id"], "award": p["award"],
                       "reason": "hội nghị cụm thống nhất đề nghị"}
                      for p in proposals if p.get("cluster_id") == cid]
            r = c.put(f"/v1/clusters/{cid}/conferences/{period}", json={
                "date": f"{period}-11-27", "place": "trụ sở Công an tỉnh đăng cai",
                "proposals": agreed, "head": lead["head"], "deputy": lead["deputy"]})
            record = r.json()
            lines.append(f"  {info['name']} ({cid}): {podium or 'no scores yet'}; "
                         f"conference recorded ({r.status_code}, by "
                         f"{record.get('recorded_by')}): {len(agreed)} proposal(s) agreed, "
                         f"{period + 1} head {lead['head'].split(':')[1]}, deputy "
                         f"{(lead['deputy'] or ':-').split(':')[1]}")
    return lines


def milestone_step(season: Season, day: date) -> None:
    """The operators' own task: the synthesis for the Prime Minister, tracked from the
    first day (the reminders go to them by e-mail), drafted on 28 November once the
    units' reports are in, sent on the 29th."""
    steps = {date(season.period, 11, 1): {}, date(season.period, 11, 28): {"state": "drafted"},
             date(season.period, 11, 29): {"state": "sent"}}
    if day in steps:
        with season.client("notifications") as c:
            c.put(f"/v1/milestones/{season.period}", json=steps[day])


def bar(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / total)
    sys.stdout.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {label:<58}")
    sys.stdout.flush()


def prepare(cfg: StackConfig) -> None:
    dev = dataclasses.replace(cfg, state=ROOT / ".local")
    if dev.state != cfg.state and any(parts.proc(dev, n).pid() for n in (*SERVICES, "kafka")):
        print("  the `make up` stack uses the same ports: stopping it for the demo")
        cli.down(dev)
    cli.down(cfg)
    for sub in ("data", "logs", "sinks"):
        shutil.rmtree(cfg.state / sub, ignore_errors=True)
    cli.up(cfg)


def main() -> int:
    cfg = StackConfig.from_env()
    period = datetime.now(VN).year
    print(f"\n== A reporting season, period {period}, on the local stack ({cfg.state}) ==")
    prepare(cfg)
    season = Season(cfg, period)
    rng = random.Random(SEED)
    with season.client("submissions") as c:
        units = [u["unit_id"] for u in c.get("/v1/units", params={"period": period}).json()]
    plans = make_plans(units, period, rng)
    bodies = {p.unit_id: body_for(season.base, p.unit_id, period, rng) for p in plans}
    days = [date(period, 11, 1) + timedelta(days=i) for i in range(33)]
    conference: list[str] = []
    late_story = ""
    for i, day in enumerate(days):
        season.at(day, 9, 5)
        season.tick()  # the reminders due at 08:00-09:00 go out
        season.at(day, 14)
        for p in plans:
            if p.day == day:
                season.submit(bodies[p.unit_id])
            if p.amend_day == day:
                amended = copy.deepcopy(bodies[p.unit_id])
                amended["notes"] = "Bổ sung số liệu tháng 11."
                season.submit(amended)
        if day == date(period, 11, 20):
            invalid_attempts(season, rng)
        if day == date(period, 11, 21):
            for body in person_bodies(units, period):
                season.submit(body)
        if day == date(period, 12, 2):
            late_story = late_amendment(season, next(p for p in plans if p.late_amendment),
                                        bodies)
        season.settle()
        if day == date(period, 11, 27):
            conference = conferences(season)
        milestone_step(season, day)
        sent = season.sent()
        bar(i + 1, len(days), f"{day:%d %b}: {len(season.accepted)} reported, "
                              f"{sent['smtp']} e-mails, {sent['smpp'] + sent['http_sms']} SMS")
    print()
    return summary(season, conference, late_story)


def late_amendment(season: Season, plan: Plan, bodies: dict[str, dict[str, Any]]) -> str:
    amended = copy.deepcopy(bodies[plan.unit_id])
    amended["notes"] = "Đính chính sau hạn."
    refused = season.submit(amended)
    with season.client("submissions") as c:
        c.post(f"/v1/units/{plan.unit_id}/unlocks", json={
            "period": season.period, "reason": "correction requested in writing", "hours": 24})
    accepted = season.submit(amended)
    return (f"  {plan.unit_id} amends on 2 December: {refused.status_code} "
            f"({refused.json().get('type', '').rsplit(':', 1)[-1]}); after an operator's "
            f"unlock: {accepted.status_code}, revision {accepted.json().get('revision')}")


def summary(season: Season, conference: list[str], late_story: str) -> int:
    period = season.period
    with season.client("reporting") as c:
        reps = {m: c.get("/v1/reports/national", params={"period": period, "movement": m}
                         ).json() for m in MOVEMENT_IDS}
    with season.client("scoring") as c:
        props = c.get("/v1/proposals", params={"period": period}).json()
    sent = season.sent()
    print("\n== Refused, with the reason ==")
    print("\n".join(f"  {r}" for r in season.refusals))
    if late_story:
        print(late_story)
    with season.client("notifications") as c:
        task = c.get(f"/v1/milestones/{period}").json()
    print(f"\n== The synthesis for the Prime Minister (the operators' task) ==\n"
          f"  due {task['due']} ({task['due_source']}); {task['state']}: drafted by "
          f"{task['drafted_by']} at {task['drafted_at']}, sent by {task['sent_by']} at "
          f"{task['sent_at']}; reminders to the operators: {sorted(task['reminders'])}")
    print("\n== 27 November: the MPS cluster conferences (vi-an-ninh) ==")
    print("\n".join(conference))
    awards: dict[str, int] = {}
    for p in props["proposals"]:
        awards[p["award"]] = awards.get(p["award"], 0) + 1
    print(f"  proposals: {awards} (Government flag cap {props['government_flag_cap']} "
          f"of {props['cluster_leaders']} cluster leaders)")
    print(f"\n== Reminders: {sent['smtp']} e-mails and {sent['smpp'] + sent['http_sms']} SMS "
          f"reached the sinks ({parts.sinks_dir(season.cfg)}) ==")
    for rep in reps.values():
        print(f"\n== {rep['movement_name']} ({rep['movement']}) {period}, for "
              f"{rep['organiser']} ({rep.get('statement', rep['as_of'])}) ==")
        print(f"  expected {rep['expected']}, submitted {rep['submitted']} "
              f"(on time {rep['on_time']}, late {rep['late']}), missing "
              f"{len(rep['missing'])}; completeness {rep['completeness']:.0%}, "
              f"timeliness {rep['timeliness']:.0%}; units' deadline {rep['deadline']}")
        people = rep["individuals"]
        if people["submitted"]:
            print(f"  individuals (criterion group 5): {people['submitted']} records "
                  f"(on time {people['on_time']}, scored {people['scored']}), by group "
                  f"{people['by_group']}, by unit {people['by_unit']}")
    folder = ROOT / "reports" / str(period)
    from services.reporting.export import export_reports
    from services.reporting.settings import ReportingSettings

    export_reports(ReportingSettings(), period=period, folder=str(folder),
                   url=season.cfg.service_url("reporting"),
                   credentials=str(season.cfg.credentials))
    print(f"\nDashboard: {season.cfg.service_url('reporting')}/dashboard?period={period}"
          f"#token={season.operator}")
    print("The demo stack keeps running for you to look around; `make down` stops it.")
    submitted = sum(r["submitted"] for r in reps.values())
    people = sum(r["individuals"]["submitted"] for r in reps.values())
    ok = submitted == len(season.accepted) and people == len(season.people) \
        and (folder / f"national-{period}.pdf").exists()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
