"""`make demo`: a handful of real submissions through the running local stack, and
what each service made of them, ending with the national report."""

from __future__ import annotations

import copy
import json
import sys
import time
from typing import Any

import httpx

from devstack.config import ROOT, StackConfig

UNITS = ["police:phu-tho", "police:bac-ninh", "police:quang-ninh", "police:lang-son",
         "province:ha-noi", "ministry:public-security", "front:vietnam-fatherland-front"]
CRITERIA = {"ministry": ["M1", "M2", "M3", "M4"], "province": ["P1", "P2", "P3", "P4"],
            "police": ["P1", "P2", "P3", "P4"], "front": ["F1", "F2", "F3", "F4"],
            "organization": ["O1", "O2"]}


def body_for(base: dict[str, Any], unit_id: str, period: int, n: int) -> dict[str, Any]:
    body = copy.deepcopy(base)
    body["unit_id"], body["period"] = unit_id, period
    crit = CRITERIA[unit_id.split(":")[0]]
    body["self_assessment"] = {c: {"rating": 6 + (n + i) % 5} for i, c in enumerate(crit)}
    return body


def main() -> int:
    cfg = StackConfig.from_env()
    creds = json.loads(cfg.credentials.read_text())
    base = json.loads((ROOT / "schemas/examples/submission-request.json").read_text("utf-8"))

    def client(service: str, token: str) -> httpx.Client:
        return httpx.Client(base_url=cfg.service_url(service), timeout=30,
                            headers={"Authorization": f"Bearer {token}"})

    op = creds["operator"]
    with client("submissions", op) as c:
        now = c.get("/v1/admin/clock")
    period = int(now.json()["now"][:4]) if now.status_code == 200 else time.gmtime().tm_year
    print(f"\n== Demo: period {period}, {len(UNITS)} units report ==")
    for n, unit in enumerate(UNITS):
        with client("submissions", creds["units"][unit]) as c:
            r = c.post("/v1/submissions", json=body_for(base, unit, period, n),
                       headers={"Idempotency-Key": f"demo-{period}-{unit}"})
        rec = r.json()
        what = ("replayed (same key, same receipt)" if r.headers.get("Idempotent-Replayed")
                == "true" else "accepted")
        print(f"  {unit:<34} {r.status_code} {what}: revision {rec.get('revision')}, "
              f"on time: {rec.get('on_time')}")
    # Mistakes get a clear answer, and change nothing.
    bad = body_for(base, "province:ha-noi", period, 0)
    bad["self_assessment"] = {c: {"rating": 5} for c in CRITERIA["ministry"]}
    with client("submissions", creds["units"]["province:ha-noi"]) as c:
        r = c.post("/v1/submissions", json=bad)
    print(f"  a province answering the ministries' criteria -> {r.status_code}: "
          f"{r.json().get('detail', '')[:110]}")
    with client("submissions", creds["units"]["province:ha-noi"]) as c:
        r = c.post("/v1/submissions", json=body_for(base, "police:phu-tho", period, 0))
    print(f"  a unit submitting for another -> {r.status_code}: {r.json().get('detail')}")

    print("\n== Scores (scoring service) ==")
    with client("scoring", op) as c:
        for unit in UNITS:
            score = _wait(lambda u=unit: c.get(f"/v1/scores/{u}", params={"period": period}))
            if score:
                print(f"  {unit:<34} {score['total']:6.2f} / {score['max']:.0f}  "
                      f"(revision {score['revision']}, rubric {score['rubric_version']})")
            else:
                print(f"  {unit:<34} not scored yet")

    with client("notifications", op) as c:
        d = c.get(f"/v1/deadlines/{period}").json()
    print(f"\n== Deadline {d['deadline']} (notifications service) ==")
    print(f"  expected {d['expected']}, submitted {d['submitted']}, on time {d['on_time']}, "
          f"late {d['late']}, still missing {len(d['missing'])}")

    with client("reporting", op) as c:
        rep = _wait(lambda: c.get("/v1/reports/national", params={"period": period}),
                    ok=lambda j: j["submitted"] >= len(UNITS))
        rep = rep or c.get("/v1/reports/national", params={"period": period}).json()
    print(f"\n== National report {period}, as of {rep['as_of']} (reporting service) ==")
    print(f"  expected {rep['expected']}  submitted {rep['submitted']}  on time "
          f"{rep['on_time']}  late {rep['late']}  completeness {rep['completeness']:.1%}  "
          f"timeliness {rep['timeliness']:.1%}")
    for t, row in rep["by_type"].items():
        print(f"  {t:<14} {row['submitted']:>3} of {row['expected']:>3} submitted")
    c4 = rep["by_cluster"].get("mps-cluster-4")
    if c4:
        print(f"  mps-cluster-4  {c4['submitted']} of {c4['expected']} submitted ({c4['name']})")
    print(f"\nReport: {cfg.service_url('reporting')}/v1/reports/national?period={period}"
          f"  (operator token in {cfg.credentials})")
    print(f"API docs: {cfg.service_url('submissions')}/docs   Stop: make down")
    return 0 if rep["submitted"] >= len(UNITS) else 1


def _wait(call: Any, ok: Any = lambda j: True, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = call()
        if r.status_code == 200 and ok(r.json()):
            return r.json()
        time.sleep(0.3)
    return None


if __name__ == "__main__":
    sys.exit(main())
