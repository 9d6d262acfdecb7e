"""The operators' dashboard in a real headless browser (Debian's chromium driven by
playwright): it loads without console errors, shows the national report's
completeness, and updates by itself when a new submission arrives. Period 2051."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.common import accounts
from tests.conftest import request_for
from tests.stackfixture import Stack, unique_key, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
PERIOD = 2051
# Before every reminder stage of 2051 that could still be sent: the campaign is quiet.
NOW = "2051-11-15T09:00:00+07:00"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def submit(stack: Stack, unit: str) -> None:
    base = json.loads((ROOT / "schemas/examples/submission-request.json").read_text("utf-8"))
    with stack.client("submissions", stack.token(unit)) as c:
        r = c.post("/v1/submissions", json=request_for(base, unit, PERIOD),
                   headers={"Idempotency-Key": unique_key()})
    assert r.status_code == 202, r.text


def national_when(stack: Stack, submitted: int) -> dict[str, Any]:
    def probe() -> Any:
        with stack.as_operator("reporting") as c:
            rep = c.get("/v1/reports/national", params={"period": PERIOD,
                                                        "movement": "vi-an-ninh"}).json()
        return rep if rep["expected"] == 34 and rep["submitted"] == submitted else None

    return dict(wait_for(f"{submitted} reports of {PERIOD} counted", probe, timeout=60))


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="/usr/bin/chromium is absent (Debian: apt-get install -y chromium)")
def test_the_dashboard_shows_the_reports_completeness_and_updates_itself(
        clock: Stack, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    stack = clock
    stack.set_clock(NOW)
    submit(stack, "police:phu-tho")
    submit(stack, "police:quang-ninh")
    submit(stack, "province:ha-noi")  # toan-dan: not on the police units' page
    before = national_when(stack, 2)

    problems: list[str] = []
    base = stack.cfg.service_url("reporting")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(f"{base}/dashboard?period={PERIOD}&movement=vi-an-ninh"
                      f"#token={stack.operator}")
            # Locators wait without evaluating strings (the page's CSP forbids eval).
            page.locator("#completeness[data-value]").wait_for()
            shown = page.get_attribute("#completeness", "data-value")
            assert shown is not None and float(shown) == before["completeness"] == 0.0588
            assert page.inner_text("#submitted") == "2"
            assert page.inner_text("#expected") == "34"
            assert page.inner_text("#movement-name") == "Vì an ninh Tổ quốc"
            assert "#" not in page.url  # the token left the address bar
            assert page.locator("#chart svg polyline").count() == 2
            assert page.locator("#missing tbody tr").count() == 32
            assert "Cụm thi đua số 4" in page.inner_text("#by-cluster")
            # An admin's page shows the service's audit trail: the clock just set is in it.
            expect(page.locator("#audit-section")).to_be_visible(timeout=10_000)
            assert "PUT /v1/admin/clock" in page.inner_text("#audit")

            # The report links carry the token: the CSV downloads.
            with page.expect_download() as download:
                page.locator("#reports a", has_text="CSV").first.click()
            saved = tmp_path / "national.csv"
            download.value.save_as(saved)
            assert saved.read_text("utf-8").startswith("scope,name,expected")

            submit(stack, "police:bac-ninh")
            after = national_when(stack, 3)
            # No reload: the page polls and redraws by itself.
            expect(page.locator("#completeness")).to_have_attribute(
                "data-value", str(after["completeness"]), timeout=30_000)
            assert page.inner_text("#submitted") == "3"
            assert page.locator("#missing tbody tr").count() == 31
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            if os.environ.get("REPORTING_SCREENSHOT"):
                page.screenshot(path=os.environ["REPORTING_SCREENSHOT"], full_page=True)

            # A viewer's account reads the figures, not the audit trail.
            viewer, _ = accounts.issue(stack.cfg.hashed_credentials, "Dashboard Viewer",
                                       "viewer", datetime.now(UTC) + timedelta(hours=1))
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.goto(f"{base}/dashboard?period={PERIOD}&movement=vi-an-ninh#token={viewer}")
            page.locator("#completeness[data-value]").wait_for()
            assert page.inner_text("#submitted") == "3"
            # The status line is written once the audit trail was asked for (and refused).
            expect(page.locator("#status")).to_contain_text("Tự cập nhật", timeout=10_000)
            assert page.locator("#audit-section").is_hidden()
        finally:
            browser.close()
    assert problems == []
