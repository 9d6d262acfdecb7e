"""The HTTP shell every service shares, with a fake lifespan (no Kafka, no Mongo)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from services.common.auth import TokenStore, hash_token, issue_credentials
from services.common.clock import ControlledClock
from services.common.http import CurrentPrincipal, create_app, ensure_access
from tests.checks import present


@contextlib.asynccontextmanager
async def no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


class Body(BaseModel):
    n: int


@pytest.fixture
def tokens(tmp_path: Path) -> tuple[dict, TokenStore]:
    plain, hashed = issue_credentials(["police:phu-tho", "police:bac-ninh"])
    path = tmp_path / "hashed.json"
    path.write_text(json.dumps(hashed))
    assert plain["admin"] not in path.read_text()  # only hashes are stored
    return plain, TokenStore(path)


@pytest.fixture
def client(tokens: tuple[dict, TokenStore]) -> TestClient:
    async def failing() -> None:
        raise ConnectionError("broker down")

    async def fine() -> None:
        return None

    app = create_app(title="t", lifespan=no_lifespan, tokens=tokens[1],
                     clock=ControlledClock(), readiness={"kafka": failing, "mongodb": fine},
                     max_body_bytes=1000)

    @app.post("/v1/things/{unit_id}")
    async def things(unit_id: str, body: Body, principal: CurrentPrincipal) -> dict:
        ensure_access(principal, unit_id)
        return {"n": body.n}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    return TestClient(app, raise_server_exceptions=False)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_principals(tokens: tuple[dict, TokenStore]) -> None:
    plain, store = tokens
    unit = store.authenticate(plain["units"]["police:phu-tho"])
    assert unit is not None and (unit.kind, unit.unit_id) == ("unit", "police:phu-tho")
    assert unit.may_access("police:phu-tho") and not unit.may_access("police:bac-ninh")
    assert present(store.authenticate(plain["admin"])).is_operator
    assert store.authenticate("guess") is None
    assert len(hash_token("x")) == 64


def test_errors_are_problem_details(client: TestClient, tokens: tuple[dict, TokenStore]) -> None:
    plain = tokens[0]
    unit_token = plain["units"]["police:phu-tho"]
    cases = [
        (client.post("/v1/things/police:phu-tho", json={"n": 1}), 401),
        (client.post("/v1/things/police:bac-ninh", json={"n": 1}, headers=auth(unit_token)), 403),
        (client.post("/v1/things/police:phu-tho", json={"n": "x"}, headers=auth(unit_token)), 422),
        (client.post("/v1/things/police:phu-tho", content=b"1" * 5000,
                     headers={**auth(unit_token), "Content-Type": "application/json"}), 413),
        (client.get("/nowhere"), 404),
        (client.get("/boom"), 500),
        (client.get("/readyz"), 503),
    ]
    for resp, status in cases:
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["status"] == status
    ok = client.post("/v1/things/police:phu-tho", json={"n": 2}, headers=auth(unit_token))
    assert ok.json() == {"n": 2}
    assert client.post("/v1/things/police:bac-ninh", json={"n": 3},
                       headers=auth(plain["admin"])).status_code == 200


def test_validation_errors_name_the_field(client: TestClient, tokens: tuple[dict, TokenStore]
                                          ) -> None:
    token = tokens[0]["units"]["police:phu-tho"]
    body = client.post("/v1/things/police:phu-tho", json={"n": "x"}, headers=auth(token)).json()
    assert body["errors"][0]["field"] == "n"


def test_clock_is_set_by_the_operator_only(client: TestClient, tokens: tuple[dict, TokenStore]
                                           ) -> None:
    plain = tokens[0]
    when = {"now": "2026-12-01T00:00:00+07:00", "frozen": True}
    assert client.put("/v1/admin/clock", json=when,
                      headers=auth(plain["units"]["police:phu-tho"])).status_code == 403
    resp = client.put("/v1/admin/clock", json=when, headers=auth(plain["admin"]))
    assert resp.status_code == 422 and resp.json()["type"].endswith("reason-required")
    resp = client.put("/v1/admin/clock", json=when,
                      headers={**auth(plain["admin"]), "Audit-Reason": "a test"})
    assert resp.status_code == 200
    assert resp.json()["now"].startswith("2026-11-30T17:00:00")


def test_metrics_count_requests(client: TestClient) -> None:
    client.get("/healthz")
    text = client.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in text
