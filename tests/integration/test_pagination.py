"""Cursor pagination on the real stack: every list route takes `limit` and an opaque
`cursor`, answers the same JSON array as before, and says where the next page is in a
`Link: <...>; rel="next"` header (RFC 8288); walking the pages gives the whole list once,
in the same order. Periods 2090-2092 are this file's own."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from services.common.pagination import MAX_LIMIT
from tests.conftest import request_for
from tests.integration.season_support import at, put_campaign
from tests.stackfixture import UNITS_FROM_2025, Stack, finished_job, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2090
UNIT = "province:lao-cai"
LINK = re.compile(r'^<([^>]+)>; rel="next"$')


def walk(client: httpx.Client, path: str, params: dict[str, Any], limit: int
         ) -> tuple[list[Any], int]:
    """Every item, following rel="next" from the first page; and the number of pages."""
    items: list[Any] = []
    response = client.get(path, params={**params, "limit": limit})
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        assert isinstance(page, list) and len(page) <= limit
        items += page
        pages += 1
        assert pages <= 1000, "the pages never end"
        link = response.headers.get("link")
        if link is None:
            return items, pages
        match = LINK.match(link)
        assert match, link
        assert "cursor=" in match.group(1) and match.group(1).startswith(path)
        response = client.get(match.group(1))


def whole(client: httpx.Client, path: str, params: dict[str, Any]) -> list[Any]:
    response = client.get(path, params={**params, "limit": MAX_LIMIT})
    assert response.status_code == 200, response.text
    assert "link" not in response.headers
    return list(response.json())


def same_by_pages(client: httpx.Client, path: str, params: dict[str, Any], limit: int,
                  at_least: int) -> list[Any]:
    everything = whole(client, path, params)
    assert len(everything) >= at_least, everything
    paged, pages = walk(client, path, params, limit)
    assert paged == everything
    # A page reads one item more than it gives: no empty last page.
    assert pages == max(1, -(-len(everything) // limit))
    return everything


def test_the_units_by_pages_are_the_whole_registry_year(stack: Stack) -> None:
    with stack.as_operator("submissions") as c:
        everything = same_by_pages(c, "/v1/units", {"period": 2026}, 7, UNITS_FROM_2025)
        assert len(everything) == UNITS_FROM_2025
        ids = [u["unit_id"] for u in everything]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        # The default page holds a whole registry year: older clients see every unit.
        first = c.get("/v1/units", params={"period": 2024})
        assert len(first.json()) > UNITS_FROM_2025 and "link" not in first.headers


def test_a_units_submissions_and_score_history_by_pages(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack = clock
    stack.set_clock(f"{PERIOD}-11-20T09:00:00+07:00")  # the period is open
    body = request_for(example_request, UNIT, PERIOD)
    with stack.client("submissions", stack.token(UNIT)) as c:
        for n in range(3):
            r = c.post("/v1/submissions", json=dict(body, notes=f"revision {n}"))
            assert r.status_code == 202, r.text
        path = f"/v1/units/{UNIT}/submissions"
        subs = same_by_pages(c, path, {"period": PERIOD}, 1, 3)
        assert [s["revision"] for s in subs] == sorted(s["revision"] for s in subs)
        assert same_by_pages(c, path, {}, 2, 3)[-len(subs):] == subs
    with stack.client("scoring", stack.token(UNIT)) as c:
        path = f"/v1/scores/{UNIT}/history"
        wait_for("three scores of the unit", lambda: len(whole(
            c, path, {"period": PERIOD})) >= 3, timeout=60)
        history = same_by_pages(c, path, {"period": PERIOD}, 2, 3)
        assert [h["revision"] for h in history] == sorted(h["revision"] for h in history)


def test_rubrics_campaigns_and_notifications_by_pages(clock: Stack) -> None:
    stack = clock
    units = ["police:lai-chau", "police:son-la", "police:dien-bien"]
    for period in (PERIOD + 1, PERIOD + 2):
        put_campaign(stack, period, units)
    at(stack, f"{PERIOD + 1}-11-30T15:00:00+07:00")
    with stack.as_operator("scoring") as c:
        same_by_pages(c, "/v1/rubrics", {}, 1, 2)
    with stack.as_operator("notifications") as c:
        campaigns = same_by_pages(c, "/v1/campaigns", {}, 1, 2)
        assert [x["period"] for x in campaigns] == sorted(x["period"] for x in campaigns)
        rows = same_by_pages(c, "/v1/notifications", {"period": PERIOD + 1}, 2, len(units))
        assert {r["unit_id"] for r in rows} == set(units)
        one = same_by_pages(c, "/v1/notifications", {"unit_id": units[0],
                                                     "period": PERIOD + 1}, 1, 1)
        assert one == [r for r in rows if r["unit_id"] == units[0]]


def test_the_audit_trail_and_jobs_by_pages(stack: Stack) -> None:
    with stack.as_operator("reporting") as c:
        for _ in range(2):
            finished_job(c, c.post("/v1/admin/rebuild"))
        same_by_pages(c, "/v1/admin/jobs", {}, 1, 2)
    with stack.as_operator("notifications") as c:
        first = c.get("/v1/audit", params={"limit": 1})
        assert first.status_code == 200, first.text
        cursor = first.json()["next_cursor"]
        assert cursor, "the trail holds more than one action"
        link = LINK.match(first.headers["link"])
        assert link and f"cursor={cursor}" in link.group(1)
        assert c.get(link.group(1)).json() == c.get(
            "/v1/audit", params={"limit": 1, "cursor": cursor}).json()


# Not base64; `{}`; `["x"]`, a key of one field where the list sorts on two.
@pytest.mark.parametrize("params", [{"cursor": "not a cursor"}, {"cursor": "e30"},
                                    {"cursor": "WyJ4Il0"}])
def test_a_cursor_the_list_did_not_give_is_a_400(stack: Stack, params: dict[str, str]
                                                 ) -> None:
    with stack.client("scoring", stack.token(UNIT)) as c:
        r = c.get(f"/v1/scores/{UNIT}/history", params={"period": PERIOD, **params})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("invalid-cursor")


@pytest.mark.parametrize("limit", [0, MAX_LIMIT + 1, "ten"])
def test_a_limit_out_of_range_is_a_422(stack: Stack, limit: Any) -> None:
    with stack.as_operator("submissions") as c:
        r = c.get("/v1/units", params={"period": 2026, "limit": limit})
    assert r.status_code == 422, r.text


def test_the_openapi_describes_limit_cursor_and_the_link_header(stack: Stack) -> None:
    with stack.client("scoring") as c:
        spec = c.get("/openapi.json").json()
    for path in ("/v1/rubrics", "/v1/scores/{unit_id}/history"):
        get = spec["paths"][path]["get"]
        names = {p["name"] for p in get["parameters"]}
        assert {"limit", "cursor"} <= names, path
        assert "Link" in get["responses"]["200"]["headers"], path
        assert "application/problem+json" in get["responses"]["400"]["content"], path
        limit = next(p for p in get["parameters"] if p["name"] == "limit")
        assert limit["schema"]["maximum"] == MAX_LIMIT
