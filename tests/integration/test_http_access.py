"""Who may call what, over every route of every service's OpenAPI document, on the real
stack (issue 15).

ROUTES below names every route the four services document, with who may call it; a route
added to a service and not to this table fails the first test, so none is forgotten. Then
every route is called with no token, an expired token, a revoked token, another unit's
token (where a unit reads its own), a unit's token where only accounts may read, and a
viewer's (and an operator's) token on operator (and admin) actions: each is refused with
a 401 or 403 problem, and nothing was written (the audit trails, the unlocks, the
submissions, the campaigns, the rubric selections and the clock are as they were). Last,
every operator action is done once by a named account, with a reason, and found in its
service's audit trail with who, what, the target and the reason.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
import pytest

from services.common import accounts
from tests.conftest import request_for
from tests.stackfixture import TEST_NOW, Stack, wait_for

pytestmark = pytest.mark.integration

SERVICES = ("submissions", "scoring", "notifications", "reporting")
# Who may call a route: "any" token (units and accounts); "own": a unit for itself (and
# accounts); "member": a unit of the cluster (and accounts); "viewer": accounts only;
# "operator" and "admin": actions of accounts with that role, audited; "admin-read": a
# read for admins only (the audit trail).
ROUTES: dict[str, dict[str, str]] = {
    "submissions": {
        "POST /v1/submissions": "own",
        "GET /v1/submissions/{submission_id}": "own",
        "GET /v1/units/{unit_id}/submissions": "own",
        "GET /v1/units": "any",
        "POST /v1/units/{unit_id}/unlocks": "operator",
        "POST /v1/units/{unit_id}/locks": "operator",
        "GET /v1/clusters/{cluster_id}/conferences/{period}": "viewer",
        "PUT /v1/clusters/{cluster_id}/conferences/{period}": "operator",
        "GET /v1/movements/{movement}/deadlines/{period}": "any",
        "PUT /v1/movements/{movement}/deadlines/{period}": "operator",
    },
    "scoring": {
        "GET /v1/scores/{unit_id}": "own",
        "GET /v1/scores/{unit_id}/history": "own",
        "GET /v1/rubrics": "any",
        "GET /v1/rubrics/{version}": "any",
        "GET /v1/rubrics/in-force/{unit_type}": "any",
        "POST /v1/admin/rescore": "admin",
        "GET /v1/admin/jobs": "admin-read",
        "GET /v1/admin/jobs/{job_id}": "admin-read",
        "GET /v1/clusters/{cluster_id}/standings": "member",
        "GET /v1/proposals": "any",
        "GET /v1/clusters/{cluster_id}/leadership": "member",
    },
    "notifications": {
        "GET /v1/deadlines/{period}": "viewer",
        "GET /v1/notifications": "own",
        "GET /v1/campaigns": "viewer",
        "GET /v1/campaigns/{period}": "viewer",
        "PUT /v1/campaigns/{period}": "operator",
        "POST /v1/campaigns/{period}/pause": "operator",
        "POST /v1/campaigns/{period}/resume": "operator",
        "POST /v1/admin/providers/reset": "admin",
        "POST /v1/admin/tick": "operator",
        "GET /v1/milestones/{period}": "viewer",
        "PUT /v1/milestones/{period}": "operator",
    },
    "reporting": {
        "GET /v1/reports/national": "viewer",
        "GET /v1/reports/clusters/{cluster_id}": "member",
        "POST /v1/admin/rebuild": "admin",
        "GET /v1/admin/jobs": "admin-read",
        "GET /v1/admin/jobs/{job_id}": "admin-read",
        "GET /v1/dashboard/data": "viewer",
    },
}
EVERY_SERVICE = {
    "GET /healthz": "public", "GET /livez": "public", "GET /readyz": "public",
    "GET /v1/admin/clock": "viewer", "PUT /v1/admin/clock": "admin",
    "GET /v1/audit": "admin-read",
}
# Actions on a far year, so that they change nothing other tests look at.
FAR = 2097
OWNER = "police:an-giang"
REASON = "kiểm thử an ninh (security test)"
CLOCK_MOVED = "2026-11-22T09:00:00+07:00"  # a refused clock change would show


def table(service: str) -> dict[str, str]:
    return {**ROUTES[service], **EVERY_SERVICE}


@pytest.fixture(scope="module")
def world(stack: Stack, example_request_module: dict[str, Any]) -> dict[str, Any]:
    """The values the routes need, the accounts the test issues, and a submission."""
    with stack.as_operator("submissions") as c:
        units = c.get("/v1/units", params={"period": 2026}).json()
    cluster_of = {u["unit_id"]: u["cluster_id"] for u in units}
    assert cluster_of.get(OWNER), f"{OWNER} is in no cluster in 2026"
    outsider = next(u for u, c in sorted(cluster_of.items())
                    if u.startswith("police:") and c and c != cluster_of[OWNER])
    path = stack.cfg.hashed_credentials
    now = datetime.now(UTC)
    later = now + timedelta(days=1)
    tokens = {
        "viewer": accounts.issue(path, "Security Viewer", "viewer", later)[0],
        "operator": accounts.issue(path, "Security Operator", "operator", later)[0],
        "admin": accounts.issue(path, "Security Admin", "admin", later)[0],
        "expired": accounts.issue(path, "Expired Admin", "admin", now - timedelta(hours=1),
                                  now - timedelta(days=2))[0],
        "owner": stack.token(OWNER),
        "outsider": stack.token(outsider),
    }
    revoked, entry = accounts.issue(path, "Revoked Admin", "admin", later)
    accounts.revoke(path, entry["id"], "security test")
    tokens["revoked"] = revoked
    with stack.client("submissions", tokens["owner"]) as c:
        r = c.post("/v1/submissions", json=request_for(example_request_module, OWNER, 2026))
        assert r.status_code == 202, r.text
        submission_id = r.json()["submission_id"]
    with stack.client("scoring", tokens["admin"]) as c:
        version = c.get("/v1/rubrics").json()[0]["version"]
    members = sorted(u for u, c in cluster_of.items() if c == cluster_of[OWNER])
    return {"tokens": tokens, "cluster": cluster_of[OWNER], "outsider": outsider,
            "members": members,
            "submission_id": submission_id, "version": version,
            "example": example_request_module}


@pytest.fixture(scope="module")
def example_request_module() -> dict[str, Any]:
    from tests.conftest import ROOT

    return dict(json.loads((ROOT / "schemas/examples/submission-request.json").read_text(
        encoding="utf-8")))


def call(stack: Stack, service: str, route: str, token: str | None, world: dict[str, Any],
         unit: str = OWNER, reason: str | None = REASON) -> Any:
    """The route called as it would be for real: path values, query and body."""
    method, template = route.split(" ")
    period = FAR if method != "GET" else 2026
    values = {"unit_id": unit, "submission_id": world["submission_id"], "period": period,
              "cluster_id": world["cluster"], "version": world["version"],
              "unit_type": "police", "job_id": "no-such-job", "movement": "vi-an-ninh"}
    params: dict[str, Any] = {}
    if "{period}" not in template and ("/clusters/" in template or template in (
            "/v1/scores/{unit_id}", "/v1/scores/{unit_id}/history", "/v1/units",
            "/v1/proposals", "/v1/reports/national", "/v1/rubrics/in-force/{unit_type}",
            "/v1/reports/clusters/{cluster_id}", "/v1/units/{unit_id}/submissions",
            "/v1/dashboard/data")):
        params["period"] = period
    if template == "/v1/notifications":
        params["unit_id"] = unit
    body = {
        "/v1/submissions": request_for(world["example"], OWNER, 2026),
        "/v1/units/{unit_id}/unlocks": {"period": FAR, "reason": REASON, "hours": 1},
        "/v1/units/{unit_id}/locks": {"period": FAR, "reason": REASON},
        "/v1/admin/rescore": {"period": FAR, "rubric_version": world["version"]},
        "/v1/clusters/{cluster_id}/conferences/{period}": {
            "date": f"{FAR}-11-27", "place": "Hạ Long", "proposals": [],
            "head": world["members"][0], "deputy": world["members"][1]},
        "/v1/movements/{movement}/deadlines/{period}": {
            "deadline": f"{FAR}-11-25T23:59:59+07:00"},
        "/v1/campaigns/{period}": {},
        "/v1/milestones/{period}": {"state": "drafted"},
        "/v1/admin/clock": {"now": CLOCK_MOVED},
    }.get(template) if method != "GET" else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if reason is not None:
        headers["Audit-Reason"] = urllib.parse.quote(reason)
    elif isinstance(body, dict) and "reason" in body:
        body = {k: v for k, v in body.items() if k != "reason"}
    with stack.client(service) as c:
        return c.request(method, template.format(**values), params=params, json=body,
                         headers=headers, timeout=300)


@pytest.fixture
def mongo(stack: Stack) -> Iterator[pymongo.MongoClient[dict[str, Any]]]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(stack.cfg.mongo_url)
    yield client
    client.close()


def written(mongo: pymongo.MongoClient[dict[str, Any]], stack: Stack) -> dict[str, str]:
    """A digest of what the refused calls could have written."""
    watched = {
        "emulation_submissions": {"submissions": {"unit_id": OWNER},
                                  "unlocks": {"unit_id": OWNER}, "conferences": {},
                                  "deadlines": {},
                                  "audit": {}},
        "emulation_scoring": {"rubric_selections": {}, "audit": {}},
        "emulation_notifications": {"campaigns": {}, "milestones": {}, "audit": {}},
        "emulation_reporting": {"audit": {}},
    }
    out = {}
    for db, colls in watched.items():
        for name, query in colls.items():
            docs = sorted(mongo[db][name].find(query), key=lambda d: str(d["_id"]))
            out[f"{db}.{name}"] = hashlib.sha256(
                json.dumps(docs, default=str, sort_keys=True).encode()).hexdigest()
    clocks = {}
    for service in SERVICES:
        with stack.as_operator(service) as c:
            clocks[service] = c.get("/v1/admin/clock").json()["now"][:10]
    out["clocks"] = json.dumps(clocks)
    return out


def problem(resp: Any, status: int) -> None:
    assert resp.status_code == status, (resp.request.method, str(resp.request.url),
                                        resp.text[:300])
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["status"] == status


@pytest.mark.parametrize("service", SERVICES)
def test_every_documented_route_is_in_the_table(stack: Stack, service: str) -> None:
    with stack.client(service) as c:
        spec = c.get("/openapi.json").json()
    documented = {f"{method.upper()} {path}" for path, ops in spec["paths"].items()
                  for method in ops}
    assert documented == set(table(service)), (
        "a route is not in ROUTES (say who may call it):", documented ^ set(table(service)))


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_refuses_the_wrong_caller_and_writes_nothing(
        stack: Stack, world: dict[str, Any], mongo: Any, service: str) -> None:
    tokens = world["tokens"]
    before = written(mongo, stack)
    for route, who in table(service).items():
        if who == "public":
            continue
        for token in (None, "not-a-token", tokens["expired"], tokens["revoked"]):
            problem(call(stack, service, route, token, world), 401)
        if who == "own" and not route.startswith("GET "):
            # An account handing in for a unit: an operator's action, with a reason.
            problem(call(stack, service, route, tokens["viewer"], world), 403)
            problem(call(stack, service, route, tokens["operator"], world, reason=None), 422)
        if who == "own":
            resp = call(stack, service, route, tokens["outsider"], world)
            # A submission of another unit is "not found": its ids are not probed.
            expected = 404 if "{submission_id}" in route else 403
            problem(resp, expected)
        if who == "member":
            problem(call(stack, service, route, tokens["outsider"], world), 403)
        if who in ("viewer", "operator", "admin", "admin-read"):
            problem(call(stack, service, route, tokens["owner"], world), 403)
        if who == "admin-read":
            problem(call(stack, service, route, tokens["viewer"], world), 403)
            problem(call(stack, service, route, tokens["operator"], world), 403)
        if who in ("operator", "admin"):
            problem(call(stack, service, route, tokens["viewer"], world), 403)
            # No reason: refused before anything is done.
            problem(call(stack, service, route, tokens[who], world, reason=None), 422)
        if who == "admin":
            problem(call(stack, service, route, tokens["operator"], world), 403)
    assert written(mongo, stack) == before


@pytest.mark.parametrize("service", SERVICES)
def test_every_operator_action_is_in_the_audit_trail(
        stack: Stack, world: dict[str, Any], service: str) -> None:
    tokens = world["tokens"]
    names = {"operator": "Security Operator", "admin": "Security Admin"}
    # A submission by an account is an operator's action too.
    actions = [(r, who if who in names else "operator") for r, who in table(service).items()
               if who in names or (who == "own" and not r.startswith("GET "))]
    assert actions, service
    # Lock before unlock, pause before resume: the unit and the campaign end as they were.
    done = []
    for route, who in sorted(actions, key=lambda a: ("unlocks" in a[0], "resume" in a[0])):
        resp = call(stack, service, route, tokens[who], world)
        assert resp.status_code < 500, (route, resp.text[:300])
        done.append((route, who, resp.status_code))
    stack.set_clock(TEST_NOW, (service,))
    with stack.client(service, tokens["admin"]) as c:
        page = c.get("/v1/audit", params={"limit": 100})
        assert page.status_code == 200, page.text
        records = page.json()["records"]
    for route, who, status in done:
        method, template = route.split(" ")
        found = [r for r in records if r["route"] == template and r["method"] == method
                 and r["actor"]["name"] == names[who] and r["status"] == status]
        assert found, (route, [(r["method"], r["route"]) for r in records])
        record = found[0]
        assert record["reason"] == REASON and record["service"] == service
        assert record["actor"]["role"] == who and record["at"]
        if "{unit_id}" in template:
            assert record["target"]["unit_id"] == OWNER
        if "{cluster_id}" in template:
            assert record["target"]["cluster_id"] == world["cluster"]
    # The unlock's record holds the state the handler knew.
    if service == "submissions":
        unlock = next(r for r in records if r["route"].endswith("/unlocks"))
        assert unlock["before"]["locked_reason"] == REASON  # the lock just before it
        assert unlock["after"]["locked_reason"] is None


def test_a_unit_reads_its_cluster_without_the_others_details(
        stack: Stack, world: dict[str, Any]) -> None:
    tokens, cluster = world["tokens"], world["cluster"]
    with stack.client("scoring", tokens["owner"]) as c:
        rows = c.get(f"/v1/clusters/{cluster}/standings",
                     params={"period": 2026}).json()["standings"]
    assert any(r["unit_id"] == OWNER for r in rows)
    assert all(r["breakdown"] == [] for r in rows if r["unit_id"] != OWNER)
    with stack.client("reporting", tokens["owner"]) as c:
        # Reporting learns the clusters from emulation.units.v1: on a fresh stack it may
        # still be reading the registry the stack published at its start.
        report = wait_for("reporting to know the cluster", lambda: (
            r := c.get(f"/v1/reports/clusters/{cluster}", params={"period": 2026})
        ).status_code == 200 and r.json(), timeout=120)
    for row in report["missing_units"]:
        if row["unit_id"] != OWNER:
            assert all("recipient" not in r for r in row["reminders"])
    for row in report["standings"]:
        if row["unit_id"] != OWNER:
            assert not row.get("breakdown")
    with stack.client("reporting", tokens["viewer"]) as c:
        assert c.get(f"/v1/reports/clusters/{cluster}",
                     params={"period": 2026}).status_code == 200
