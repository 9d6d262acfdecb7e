"""Domain refusals carry no HTTP status; the API layer maps each kind to one."""

from __future__ import annotations

import ast
import pathlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.common.auth import TokenStore
from services.common.clock import ControlledClock
from services.common.errors import Refusal, Refused
from services.common.http import create_app
from services.common.problems import REFUSAL_STATUS, problem_for

SERVICES = pathlib.Path(__file__).resolve().parents[3] / "services"


def test_every_kind_has_a_status() -> None:
    assert set(REFUSAL_STATUS) == set(Refusal)
    problem = problem_for(Refused(Refusal.CONFLICT, "locked", "why", unit_id="u"))
    assert (problem.status, problem.code, problem.detail, problem.extra) == (
        409, "locked", "why", {"unit_id": "u"})


@asynccontextmanager
async def no_lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


def test_a_refusal_escaping_a_route_answers_its_problem(tmp_path: pathlib.Path) -> None:
    app = create_app(title="t", lifespan=no_lifespan, tokens=TokenStore(tmp_path / "t.json"),
                     clock=ControlledClock(), readiness={}, max_body_bytes=1000)

    @app.get("/x")
    async def refuse() -> None:
        raise Refused(Refusal.NOT_FOUND, "unknown-unit", "no such unit", unit_id="u")

    resp = TestClient(app, raise_server_exceptions=False).get("/x")
    assert resp.status_code == 404
    body = resp.json()
    assert body["type"].endswith(":unknown-unit") and body["unit_id"] == "u"
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_domain_modules_know_no_http() -> None:
    """No `domain.py` imports the web framework or raises with a status number."""
    offenders = []
    for path in SERVICES.glob("*/domain.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                    "fastapi", "starlette"):
                offenders.append(f"{path.parent.name}/domain.py imports {node.module}")
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and any(
                    isinstance(a, ast.Constant) and isinstance(a.value, int)
                    and 400 <= a.value < 600 for a in node.exc.args):
                offenders.append(f"{path.parent.name}/domain.py:{node.lineno} raises a status")
    assert offenders == []
