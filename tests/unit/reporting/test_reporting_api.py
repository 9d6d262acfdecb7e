"""The reporting HTTP surface with fakes behind it: who may read what, every format's
media type, bad input as problems, and the dashboard page's shell."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from services.common.auth import TokenStore, issue_credentials
from services.common.clock import ControlledClock
from services.common.http import create_app
from services.common.jobs import Jobs, job_router
from services.common.progress import Progress
from services.reporting.api import build_router
from services.reporting.api_dashboard import mount_dashboard
from services.reporting.dashboard import dashboard_view
from services.reporting.rebuild import Rebuilder, RebuildResult, RebuildRunning
from services.reporting.service import UnknownCluster
from services.reporting.settings import ReportingSettings
from tests.unit.reporting_samples import cluster, national


class FakeReports:
    async def national(self, period: int, movement: str = "toan-dan") -> dict[str, Any]:
        return {**national(), "period": period}

    async def cluster_members(self, cluster_id: str, period: int) -> list[str]:
        if cluster_id != "mps-cluster-4":
            raise UnknownCluster(f"no cluster {cluster_id} in {period}")
        return ["police:phu-tho", "police:bac-ninh", "police:quang-ninh"]

    async def cluster(self, cluster_id: str, period: int) -> dict[str, Any]:
        return cluster()

    async def dashboard(self, period: int, movement: str = "toan-dan") -> dict[str, Any]:
        return dashboard_view({**national(), "period": period}, [], 3.0)


class FakeRebuilder(Rebuilder):
    def __init__(self) -> None:  # no Kafka: a replay of three records
        self.busy = False

    @property
    def running(self) -> bool:
        return self.busy

    async def run(self, progress: Progress | None = None) -> RebuildResult:
        if self.busy:
            raise RebuildRunning("a rebuild is already running")
        if progress is not None:
            progress("replaying", 3, 3)
        return RebuildResult(started_at="s", finished_at="f", seconds=1.0,
                             end_offsets={"emulation.submissions.v1": 3},
                             applied={"emulation.submissions.v1": 3})


@contextlib.asynccontextmanager
async def no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture
def setup(tmp_path: Path) -> tuple[TestClient, dict[str, Any], FakeRebuilder]:
    plain, hashed = issue_credentials(["police:phu-tho", "police:ha-noi"])
    path = tmp_path / "hashed.json"
    path.write_text(json.dumps(hashed))
    clock = ControlledClock()
    app = create_app(title="t", lifespan=no_lifespan, tokens=TokenStore(path), clock=clock,
                     readiness={}, max_body_bytes=1000)
    rebuilder = FakeRebuilder()
    reports: Any = FakeReports()
    jobs = Jobs()
    app.include_router(build_router(reports, rebuilder,
                                    ReportingSettings().pdf_font_dir, jobs))
    app.include_router(job_router(jobs))
    mount_dashboard(app, reports, clock)
    return TestClient(app, raise_server_exceptions=False), plain, rebuilder


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Audit-Reason": "unit test"}


def test_the_national_report_is_for_the_operator_only(setup: Any) -> None:
    client, creds, _ = setup
    assert client.get("/v1/reports/national?period=2026").status_code == 401
    r = client.get("/v1/reports/national?period=2026",
                   headers=auth(creds["units"]["police:phu-tho"]))
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    ok = client.get("/v1/reports/national?period=2026", headers=auth(creds["admin"]))
    assert ok.status_code == 200 and ok.json()["completeness"] == 0.6
    assert ok.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("fmt", "media"), [
    ("csv", "text/csv; charset=utf-8"), ("html", "text/html; charset=utf-8"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("pdf", "application/pdf")])
def test_every_national_format(setup: Any, fmt: str, media: str) -> None:
    client, creds, _ = setup
    r = client.get(f"/v1/reports/national?period=2026&format={fmt}",
                   headers=auth(creds["admin"]))
    if fmt == "pdf" and r.status_code == 503:
        pytest.skip("no DejaVu fonts on this machine")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    assert f'filename="national-2026.{fmt}"' in r.headers["content-disposition"]
    assert r.headers["x-report-as-of"] == national()["as_of"]
    if fmt == "xlsx":
        assert "Tổng hợp" in load_workbook(io.BytesIO(r.content)).sheetnames


def test_a_unit_reads_its_own_clusters_report_only(setup: Any) -> None:
    client, creds, _ = setup
    url = "/v1/reports/clusters/mps-cluster-4?period=2026"
    own = client.get(url, headers=auth(creds["units"]["police:phu-tho"]))
    assert own.status_code == 200 and own.json()["cluster_id"] == "mps-cluster-4"
    other = client.get(url, headers=auth(creds["units"]["police:ha-noi"]))
    assert other.status_code == 403
    assert "own cluster" in other.json()["detail"]
    html = client.get(url + "&format=html", headers=auth(creds["admin"]))
    assert html.status_code == 200 and "Cụm thi đua số 4" in html.text


@pytest.mark.parametrize(("url", "status"), [
    ("/v1/reports/national?period=1999", 422),
    ("/v1/reports/national?period=abc", 422),
    ("/v1/reports/national", 422),
    ("/v1/reports/national?period=2026&format=docx", 422),
    ("/v1/reports/clusters/mps-cluster-4?period=2026&format=xlsx", 422),
    ("/v1/reports/clusters/cluster-4?period=2026", 422),
    ("/v1/reports/clusters/mps-cluster-99?period=2026", 404),
    ("/v1/dashboard/data?period=3000", 422),
])
def test_bad_input_is_a_problem_never_a_500(setup: Any, url: str, status: int) -> None:
    client, creds, _ = setup
    r = client.get(url, headers=auth(creds["admin"]))
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_rebuild_is_an_operator_action_and_refuses_a_second_one(setup: Any) -> None:
    client, creds, rebuilder = setup
    assert client.post("/v1/admin/rebuild",
                       headers=auth(creds["units"]["police:phu-tho"])).status_code == 403
    r = client.post("/v1/admin/rebuild", headers=auth(creds["admin"]))
    assert r.status_code == 202 and r.json()["state"] in ("running", "succeeded"), r.text
    job_url = r.headers["location"]
    assert job_url == f"/v1/admin/jobs/{r.json()['id']}"
    assert client.get(job_url, headers=auth(creds["units"]["police:phu-tho"])
                      ).status_code == 403
    job = client.get(job_url, headers=auth(creds["admin"])).json()
    for _ in range(100):  # the job runs on the test client's loop, between requests
        if job["state"] != "running":
            break
        job = client.get(job_url, headers=auth(creds["admin"])).json()
    assert job["state"] == "succeeded", job
    assert job["result"]["applied"] == {"emulation.submissions.v1": 3}
    assert (job["done"], job["total"]) == (3, 3)
    assert client.get("/v1/admin/jobs/nope", headers=auth(creds["admin"])
                      ).status_code == 404
    rebuilder.busy = True
    assert client.post("/v1/admin/rebuild",
                       headers=auth(creds["admin"])).status_code == 409


def test_the_dashboard_page_is_public_its_data_is_not(setup: Any) -> None:
    client, creds, _ = setup
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert '<script src="/dashboard/static/dashboard.js"' in page.text
    js = client.get("/dashboard/static/dashboard.js")
    assert js.status_code == 200 and "sessionStorage" in js.text
    assert "innerHTML" not in js.text  # data goes in as text only
    assert client.get("/dashboard/static/dashboard.css").status_code == 200
    assert client.get("/v1/dashboard/data").status_code == 401
    data = client.get("/v1/dashboard/data?period=2026", headers=auth(creds["admin"]))
    assert data.status_code == 200 and data.json()["completeness"] == 0.6
    assert client.get("/v1/dashboard/data", headers=auth(
        creds["units"]["police:phu-tho"])).status_code == 403


class StoredBeforeTheBounds(FakeReports):
    """A database holding what the input bounds now refuse: NaN sums (MongoDB stores
    them) and a lone surrogate (the Kafka way in read it)."""

    async def national(self, period: int, movement: str = "toan-dan") -> dict[str, Any]:
        report = await super().national(period)
        report["scores"]["mean"] = float("nan")
        report["completeness"] = float("inf")
        next(iter(report["contents"].values()))["indicators"]["x"] = float("nan")
        report["units"][0]["name"] = "Công an \ud800 tỉnh"
        return report


@pytest.mark.parametrize("fmt", ["json", "csv", "html", "xlsx", "pdf"])
def test_stored_nan_and_surrogates_never_make_a_500(tmp_path: Path, fmt: str) -> None:
    plain, hashed = issue_credentials([])
    path = tmp_path / "hashed.json"
    path.write_text(json.dumps(hashed))
    app = create_app(title="t", lifespan=no_lifespan, tokens=TokenStore(path),
                     clock=ControlledClock(), readiness={}, max_body_bytes=1000)
    reports: Any = StoredBeforeTheBounds()
    app.include_router(build_router(reports, FakeRebuilder(),
                                    ReportingSettings().pdf_font_dir, Jobs()))
    client = TestClient(app, raise_server_exceptions=False)
    r = client.get(f"/v1/reports/national?period=2026&format={fmt}",
                   headers=auth(plain["admin"]))
    if fmt == "pdf" and r.status_code == 503:
        pytest.skip("no DejaVu fonts on this machine")
    assert r.status_code == 200, r.text
    if fmt == "json":
        assert r.json()["scores"]["mean"] is None and r.json()["completeness"] is None
        assert r.json()["units"][0]["name"] == "Công an \ufffd tỉnh"
