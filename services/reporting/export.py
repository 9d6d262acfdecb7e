"""`python -m services.reporting export`: every report of a period, fetched from the
running service (so they carry its clock and its read models), written to a folder.
The demo uses it to leave the reports where a person can open them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from services.common.movements import VI_AN_NINH
from services.common.settings import REPO_ROOT
from services.reporting.dashboard import CLUSTER_FORMATS, NATIONAL_FORMATS
from services.reporting.settings import ReportingSettings


def operator_token(credentials: str | None) -> str:
    token = os.environ.get("EMULATION_OPERATOR_TOKEN")
    if token:
        return token
    path = Path(credentials) if credentials else REPO_ROOT / ".local" / "credentials.json"
    return str(json.loads(path.read_text(encoding="utf-8"))["admin"])


def export_reports(settings: ReportingSettings, *, period: int, folder: str,
                   url: str | None = None, credentials: str | None = None) -> int:
    base = url or f"http://{settings.http_host}:{settings.http_port}"
    token = operator_token(credentials)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with httpx.Client(base_url=base, timeout=120,
                      headers={"Authorization": f"Bearer {token}"}) as client:

        def fetch(path: str, fmt: str, name: str, **extra: str) -> None:
            r = client.get(path, params={"period": period, "format": fmt, **extra})
            if r.status_code != 200:
                raise SystemExit(f"{path} ({fmt}) answered {r.status_code}: {r.text[:300]}")
            target = out / f"{name}.{fmt}"
            target.write_bytes(r.content)
            written.append(target)

        # toan-dan's synthesis (for the Prime Minister) and vi-an-ninh's (the police
        # units' movement, for the MPS Department of Party and Political Work).
        for fmt in NATIONAL_FORMATS:
            fetch("/v1/reports/national", fmt, f"national-{period}")
            fetch("/v1/reports/national", fmt, f"national-{period}-{VI_AN_NINH}",
                  movement=VI_AN_NINH)
        clusters = client.get("/v1/reports/national", params={
            "period": period, "movement": VI_AN_NINH}).json()["by_cluster"]
        for cid in clusters:
            for fmt in CLUSTER_FORMATS:
                fetch(f"/v1/reports/clusters/{cid}", fmt, f"{cid}-{period}")
    print(f"reports of {period} written to {out.resolve()}:")
    for path in written:
        if path.suffix in (".pdf", ".xlsx", ".html") and path.name.startswith("national"):
            print(f"  {path}")
    print(f"  ... and {len(written)} files in all (every cluster in html, pdf, csv, json)")
    print(f"dashboard: {base}/dashboard?period={period}#token=<the operator token>")
    return 0

