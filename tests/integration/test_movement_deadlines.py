"""Issue 14, point 2: each movement has its own units' deadline. A police report after
`vi-an-ninh`'s deadline (26 November, the day before the cluster conferences) is late
there and is not ranked in that year's cluster standings, while a `toan-dan` report sent
at the same moment is on time (30 November). On the real stack: Kafka and FerretDB.
Period 2095 (no other test uses it)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import request_for
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration

PERIOD = 2095
BEFORE = f"{PERIOD}-11-25T10:00:00+07:00"  # both movements open
BETWEEN = f"{PERIOD}-11-28T10:00:00+07:00"  # vi-an-ninh closed, toan-dan open
ON_TIME_POLICE = "police:phu-tho"
LATE_POLICE = "police:quang-ninh"
PROVINCE = "province:quang-ninh"


def submit(stack: Stack, example: dict[str, Any], unit: str, period: int = PERIOD
           ) -> dict[str, Any]:
    with stack.client("submissions", stack.token(unit)) as c:
        r = c.post("/v1/submissions", json=request_for(example, unit, period))
    assert r.status_code == 202, r.text
    return dict(r.json())


def test_a_police_report_after_its_movements_deadline_is_late_and_not_ranked(
        clock: Stack, example_request: dict[str, Any]) -> None:
    with clock.as_operator("submissions") as c:
        units = {u["unit_id"]: u for u in c.get("/v1/units", params={"period": PERIOD}).json()}
    cluster = units[LATE_POLICE]["cluster_id"]
    assert cluster and units[ON_TIME_POLICE]["cluster_id"] == cluster

    clock.set_clock(BEFORE, ("submissions",))
    early = submit(clock, example_request, ON_TIME_POLICE)
    assert early["on_time"] is True
    clock.set_clock(BETWEEN, ("submissions",))
    late = submit(clock, example_request, LATE_POLICE)
    province = submit(clock, example_request, PROVINCE)

    # The receipts: each judged by its own movement's deadline.
    assert late["on_time"] is False
    assert late["deadline"].startswith(f"{PERIOD}-11-26T23:59:59")
    assert province["on_time"] is True
    assert province["deadline"].startswith(f"{PERIOD}-11-30T23:59:59")

    # Scoring: the late police report is listed late, without a score, after the ranked.
    with clock.as_operator("scoring") as c:
        rows = wait_for("both police reports in the standings", lambda: (
            r := c.get(f"/v1/clusters/{cluster}/standings", params={"period": PERIOD})
        ).status_code == 200 and (
            got := {row["unit_id"]: row for row in r.json()["standings"]})
            and got[LATE_POLICE]["submitted"] and got[ON_TIME_POLICE]["submitted"] and got,
            timeout=60)
        proposals = c.get("/v1/proposals", params={"period": PERIOD}).json()
    assert rows[ON_TIME_POLICE]["rank"] == 1 and rows[ON_TIME_POLICE]["score"] is not None
    assert rows[LATE_POLICE]["on_time"] is False and rows[LATE_POLICE]["score"] is None
    ranked = [u for u, row in rows.items() if row["score"] is not None]
    assert ranked == [ON_TIME_POLICE]
    assert LATE_POLICE not in {p["unit_id"] for p in proposals["proposals"]}

    # Notifications: each movement's deadline, its units counted by their own receipts.
    with clock.as_operator("notifications") as c:
        police = wait_for("the police reports counted", lambda: (
            r := c.get(f"/v1/deadlines/{PERIOD}", params={"movement": "vi-an-ninh"}
                       ).json())["submitted"] >= 2 and r)
        people = wait_for("the province's report counted", lambda: (
            r := c.get(f"/v1/deadlines/{PERIOD}", params={"movement": "toan-dan"}
                       ).json())["submitted"] >= 1 and r)
    assert police["deadline"].startswith(f"{PERIOD}-11-26T23:59:59")
    assert (police["on_time"], police["late"]) == (1, 1)
    assert people["deadline"].startswith(f"{PERIOD}-11-30T23:59:59")
    assert (people["on_time"], people["late"]) == (1, 0)


SET_PERIOD = 2096  # no other test uses it
SET_URL = f"/v1/movements/vi-an-ninh/deadlines/{SET_PERIOD}"
REASON = {"Audit-Reason": "hoi-nghi-cum-hop-som"}


def test_an_operators_deadline_is_the_one_reports_are_judged_by_everywhere(
        clock: Stack, example_request: dict[str, Any]) -> None:
    """An operator brings vi-an-ninh's 2096 deadline forward to 20 November: a police
    report on 22 November is late (by its default, 26 November, it would not be), a
    province's is not, and notifications shows the deadline set."""
    with clock.as_operator("submissions") as c:
        default = c.get(SET_URL).json()
        assert (default["source"], default["deadline"][:19]) == (
            "default", f"{SET_PERIOD}-11-26T23:59:59")
        assert default["basis"].startswith("platform default, configurable")
    with clock.client("submissions", clock.token(LATE_POLICE)) as c:
        refused = c.put(SET_URL, json={"deadline": f"{SET_PERIOD}-11-20T23:59:59+07:00"},
                        headers=REASON)
        assert refused.status_code == 403  # units do not set deadlines
    with clock.as_operator("submissions") as c:
        naive = c.put(SET_URL, json={"deadline": f"{SET_PERIOD}-11-20T23:59:59"},
                      headers=REASON)
        assert naive.status_code == 422, naive.text
        wrong_year = c.put(SET_URL, json={"deadline": "2090-11-20T23:59:59+07:00"},
                           headers=REASON)
        assert wrong_year.status_code == 422, wrong_year.text
        done = c.put(SET_URL, json={"deadline": f"{SET_PERIOD}-11-20T23:59:59+07:00"},
                     headers=REASON)
        assert done.status_code == 200, done.text
        assert done.json()["source"] == "operator" and done.json()["set_by"]
        assert c.get(SET_URL).json()["deadline"][:10] == f"{SET_PERIOD}-11-20"

    clock.set_clock(f"{SET_PERIOD}-11-22T10:00:00+07:00", ("submissions",))
    # Nothing of 2096 was judged before the change: no intake process holds its deadline.
    late = submit(clock, example_request, LATE_POLICE, SET_PERIOD)
    assert late["deadline"].startswith(f"{SET_PERIOD}-11-20T23:59:59")
    assert late["on_time"] is False
    people = submit(clock, example_request, PROVINCE, SET_PERIOD)
    assert people["on_time"] is True  # toan-dan keeps its own

    with clock.as_operator("notifications") as c:
        police = wait_for("notifications to show the deadline set", lambda: (
            r := c.get(f"/v1/deadlines/{SET_PERIOD}", params={"movement": "vi-an-ninh"}
                       ).json())["deadline"].startswith(f"{SET_PERIOD}-11-20") and r)
    assert police["deadline"].startswith(f"{SET_PERIOD}-11-20T23:59:59")
