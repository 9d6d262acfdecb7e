"""Property: no body makes any JSON route of any service answer 5xx or hang.

Each service's routers are mounted in the shared HTTP shell with fakes behind them (the
submissions intake runs for real over the in-memory database of its store tests, the
campaigns over the real defaults and rules). The routes come from each app's OpenAPI
document; hypothesis posts generated hostile bodies to them: valid requests with one
field replaced by something hostile (NaN, huge or non-integral numbers, lone surrogates,
deep nesting, dates at the edges of `datetime`, wrong types), arbitrary JSON, and bytes
that are not JSON at all."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common import movements
from services.common.auth import TokenStore, issue_credentials
from services.common.clock import ControlledClock
from services.common.errors import Refusal
from services.common.http import InflightLimit, create_app
from services.common.jobs import Jobs
from services.notifications.api import build_router as notifications_router
from services.notifications.campaigns import (
    build_campaign,
    campaign_spec,
    load_defaults,
    with_overrides,
)
from services.notifications.domain import Campaign, current_stage, for_movement
from services.notifications.service import Notifications
from services.scoring.api import build_router as scoring_router
from services.scoring.api_clusters import build_cluster_router
from services.scoring.domain import RescoreRefused
from services.scoring.leadership_register import LeadershipRegister
from services.scoring.rescore import Rescorer
from services.submissions.api import build_router as submissions_router
from services.submissions.api_conferences import build_conference_router
from services.submissions.conferences import Conferences
from services.submissions.service import Intake
from services.submissions.store import SubmissionStore
from tests.fakes.kafka import FakeProducer
from tests.fakes.mongo import FakeDatabase
from tests.unit.submissions_support import REGISTRY, intake_db, request

SECONDS_PER_REQUEST = 10.0  # generous on a loaded 2-core machine; a hang is minutes
PATH_VALUES = {"unit_id": "province:quang-ninh", "period": "2026",
               "cluster_id": "mps-cluster-4"}
# A valid body of every JSON route: the base the mutations start from. A route missing
# here fails `test_every_json_route_has_a_base_body`.
BASES: dict[str, dict[str, Any]] = {
    "PUT /v1/admin/clock": {"now": "2026-11-20T09:00:00+07:00", "frozen": False},
    "POST /v1/submissions": request(),
    "POST /v1/units/{unit_id}/unlocks": {"period": 2026, "reason": "late upload",
                                         "hours": 72},
    "POST /v1/units/{unit_id}/locks": {"period": 2026, "reason": "closing the year"},
    "POST /v1/admin/rescore": {"period": 2026, "rubric_version": "police-2026.1"},
    "PUT /v1/clusters/{cluster_id}/conferences/{period}": {
        "date": "2026-11-27", "place": "Hạ Long", "head": "police:phu-tho",
        "deputy": "police:bac-ninh", "proposals": [
            {"unit_id": "police:quang-ninh", "award": "mps_emulation_flag",
             "reason": "thống nhất đề nghị"}]},
    "PUT /v1/campaigns/{period}": {
        "deadline": "2026-11-30T23:59:59+07:00", "timezone": "Asia/Ho_Chi_Minh",
        "stages": [{"name": "d-7", "days": -7, "hour": 9, "minute": 0}],
        "channels": ["email"], "quiet_hours": {"start": "21:00", "end": "07:00"},
        "audience": {"unit_ids": ["police:phu-tho"], "unit_types": ["police"]},
        "catch_up_hours": 72, "paused": False},
}
HOSTILE_TOKENS = [
    "NaN", "Infinity", "-Infinity", "1e999", "-1e400", "1e-400", "-0", "2026.0", "7.0",
    "9" * 20, "1" * 5000, str(2**63), str(-(2**63) - 1), '"\\ud800"', '"a\\udfffb"',
    '"0001-01-01T00:00:00+14:00"', '"9999-12-31T23:59:59-14:00"', '"2026-02-30T00:00:00Z"',
    "null", "true", '""', '"' + "x" * 20_000 + '"', '"\\u0000"', '"\\u202e=cmd|calc"',
    "[" * 40 + "]" * 40, "[" * 3000 + "]" * 3000, '{"a":' * 60 + "1" + "}" * 60,
    "[" + ",".join(["1"] * 30_000) + "]",
]


class Raw(str):
    """JSON text to put in a body as it is."""


def dump(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)  # NaN and infinities come out as such


characters = st.characters(codec=None, exclude_categories=()) | st.sampled_from(
    ["\ud800", "\udc00", "\u202e", "\u2066", "\x00", "\x0b", "=", "@"])
leaves = (st.none() | st.booleans() | st.integers() | st.floats()
          | st.text(characters, max_size=20) | st.sampled_from(HOSTILE_TOKENS).map(Raw))
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(characters, max_size=8), inner, max_size=4),
                      max_leaves=12)


def paths(doc: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths(v, (*at, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths(v, (*at, i))


def replaced(doc: Any, at: tuple[Any, ...], value: Any) -> Any:
    if not at:
        return value
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[at[0]] = replaced(doc[at[0]], at[1:], value)
    return copy


@st.composite
def bodies(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    kind = draw(st.sampled_from(["field", "field", "field", "member", "any", "bytes", "cut"]))
    if kind == "field":
        at = draw(st.sampled_from(list(paths(base))[1:]))
        return dump(replaced(base, at, draw(values))).encode("utf-8", "surrogatepass")
    if kind == "member":
        extra = {draw(st.text(characters, max_size=8)): draw(values)}
        return dump({**base, **extra}).encode("utf-8", "surrogatepass")
    if kind == "any":
        return dump(draw(values)).encode("utf-8", "surrogatepass")
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    text = json.dumps(base).encode()
    return text[:draw(st.integers(0, len(text)))]


# -- the apps, with fakes ---------------------------------------------------------------

class FakeRescorer(Rescorer):
    def __init__(self) -> None:  # no Kafka, no stores: it refuses every rubric
        pass

    def check(self, period: int, version: str) -> None:
        raise RescoreRefused(Refusal.INVALID, "unknown-rubric", f"no rubric {version}")


class FakeRegister(LeadershipRegister):
    def __init__(self) -> None:  # no decisions, no store
        pass

    async def view(self, cluster_id: str, period: int,
                   decided: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        return None


class FakeService(Notifications):
    """The real campaign rules (defaults, overrides, the stored form read back)."""

    def __init__(self, clock: ControlledClock) -> None:
        self.defaults, self.clock = load_defaults(), clock

    async def put_campaign(self, period: int, overrides: Mapping[str, Any]) -> Campaign:
        stored = campaign_spec(with_overrides(period, self.defaults, overrides))
        return build_campaign(period, json.loads(json.dumps(stored)))

    async def campaign(self, period: int) -> Campaign | None:
        return None

    def current(self, campaign: Campaign, now: datetime | None = None) -> str | None:
        due = current_stage(campaign, now or self.clock.now())
        return due.stage.name if due else None

    async def runs(self, campaign: Campaign) -> list[Campaign]:
        return [for_movement(campaign, m, None) for m in movements.IDS]


@contextlib.asynccontextmanager
async def no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def build(service: str, tokens: TokenStore) -> FastAPI:
    clock = ControlledClock()
    clock.set(datetime(2026, 11, 20, 9, tzinfo=UTC))
    app = create_app(title=service, lifespan=no_lifespan, tokens=tokens, clock=clock,
                     readiness={}, max_body_bytes=1_000_000)
    fake: Any = None
    if service == "submissions":
        intake = Intake(store=SubmissionStore(intake_db()),
                        producer=FakeProducer(), registry=REGISTRY, clock=clock)
        app.include_router(submissions_router(intake, InflightLimit("/v1/submissions", 8)))
        app.include_router(build_conference_router(intake, Conferences(
            db=FakeDatabase(), producer=FakeProducer(),
            registry=REGISTRY)))
    elif service == "scoring":
        app.include_router(scoring_router(store=fake, rubrics=fake, scorer=fake,
                                          rescorer=FakeRescorer(),
                                          jobs=Jobs()))
        app.include_router(build_cluster_router(rankings=fake,
                                                register=FakeRegister()))
    elif service == "notifications":
        app.include_router(notifications_router(FakeService(clock), fake))
    return app


def json_routes(client: TestClient) -> list[str]:
    """`METHOD /path` of every operation the OpenAPI document gives a request body."""
    app = client.app
    assert isinstance(app, FastAPI)
    return sorted(f"{method.upper()} {path}"
                  for path, operations in app.openapi()["paths"].items()
                  for method, op in operations.items() if "requestBody" in op)


SERVICES = ["submissions", "scoring", "notifications", "reporting"]


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[TestClient, str]]:
    plain, hashed = issue_credentials(["province:quang-ninh", "police:phu-tho"])
    path: Path = tmp_path_factory.mktemp("tokens") / "hashed.json"
    path.write_text(json.dumps(hashed))
    tokens = TokenStore(path)
    return {s: (TestClient(build(s, tokens), raise_server_exceptions=False),
                plain["admin"]) for s in SERVICES}


@pytest.mark.parametrize("service", SERVICES)
def test_every_json_route_has_a_base_body(
        clients: dict[str, tuple[TestClient, str]], service: str) -> None:
    routes = json_routes(clients[service][0])
    assert routes and set(routes) <= set(BASES)


@pytest.mark.parametrize("service", SERVICES)
def test_the_base_bodies_are_served(
        clients: dict[str, tuple[TestClient, str]], service: str) -> None:
    client, operator = clients[service]
    for route in json_routes(client):
        method, path = route.split(" ")
        resp = client.request(method, path.format(**PATH_VALUES), params={"period": 2026},
                              json=BASES[route],
                              headers={"Authorization": f"Bearer {operator}",
                                       "Audit-Reason": "unit test"})
        assert resp.status_code < 500, resp.text
        if route != "POST /v1/admin/rescore":
            assert resp.status_code < 300, (route, resp.text)  # the fake refuses that one


@pytest.mark.parametrize("service", SERVICES)
@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_no_body_answers_5xx_or_hangs(clients: dict[str, tuple[TestClient, str]],
                                      service: str, data: st.DataObject) -> None:
    client, operator = clients[service]
    route = data.draw(st.sampled_from(json_routes(client)))
    method, path = route.split(" ")
    body = data.draw(bodies(BASES[route]))
    media = data.draw(st.sampled_from(["application/json", "application/json",
                                       "application/merge-patch+json", None]))
    headers = {"Authorization": f"Bearer {operator}", "Audit-Reason": "unit test"}
    if media:
        headers["Content-Type"] = media
    started = time.perf_counter()
    resp = client.request(method, path.format(**PATH_VALUES), params={"period": 2026},
                          content=body, headers=headers)
    assert time.perf_counter() - started < SECONDS_PER_REQUEST
    assert resp.status_code < 500, (route, body[:300], resp.text[:500])
    if resp.status_code >= 400:
        assert resp.headers["content-type"] == "application/problem+json"


def test_found_by_the_property(clients: dict[str, tuple[TestClient, str]]) -> None:
    """What the property found, kept as plain cases: a member name with a lone surrogate
    echoed in the problem (its JSON could not be written), a campaign field sent as null."""
    client, operator = clients["scoring"]
    resp = client.post("/v1/admin/rescore", content=b'{"period": {"\\ud800": null}}',
                       headers={"Authorization": f"Bearer {operator}", "Audit-Reason": "unit test",
                                "Content-Type": "application/json"})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "period/\\ud800"
    client, operator = clients["notifications"]
    resp = client.put("/v1/campaigns/2026", json={"catch_up_hours": None, "timezone": None},
                      headers={"Authorization": f"Bearer {operator}", "Audit-Reason": "unit test"})
    assert resp.status_code == 200 and resp.json()["catch_up_hours"] == 72
