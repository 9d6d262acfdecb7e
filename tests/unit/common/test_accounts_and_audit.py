"""Named accounts (issue, expiry, revocation, rotation, roles) and the audit trail of
operator actions, on the HTTP shell every service shares (no Kafka, no Mongo)."""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.common import accounts
from services.common.audit import MemoryAuditLog
from services.common.auth import TokenRefused, TokenStore, hash_token, issue_credentials
from services.common.clock import ControlledClock
from services.common.http import OperatorAction, ViewerPrincipal, create_app
from services.reporting.cluster_report import member_copy
from services.scoring.api_clusters import own_rows_only
from tests.checks import present

NOW = datetime(2026, 12, 7, 10, tzinfo=UTC)


@contextlib.asynccontextmanager
async def no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture
def path(tmp_path: Path) -> Path:
    plain, hashed = issue_credentials(["police:phu-tho", "police:bac-ninh"])
    target = tmp_path / "credentials.hashed.json"
    target.write_text(json.dumps(hashed))
    (tmp_path / "plain.json").write_text(json.dumps(plain))
    return target


def plain_of(path: Path) -> dict[str, Any]:
    return dict(json.loads((path.parent / "plain.json").read_text()))


@pytest.fixture
def app(path: Path) -> tuple[TestClient, MemoryAuditLog]:
    audit = MemoryAuditLog()
    app = create_app(title="t", lifespan=no_lifespan, tokens=TokenStore(path),
                     clock=ControlledClock(), readiness={}, max_body_bytes=10_000,
                     audit=audit, service_name="things")
    state = {"n": 1}

    @app.get("/v1/things")
    async def read(_: ViewerPrincipal) -> dict[str, int]:
        return state

    @app.post("/v1/things/{thing_id}")
    async def change(thing_id: str, action: OperatorAction) -> dict[str, int]:
        action.before = dict(state)
        state["n"] += 1
        action.after = dict(state)
        return state

    return TestClient(app, raise_server_exceptions=False), audit


def bearer(token: str, reason: str | None = "a reason") -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if reason is not None:
        headers["Audit-Reason"] = urllib.parse.quote(reason)
    return headers


def test_an_issued_account_keeps_only_the_hash_and_names_its_holder(path: Path) -> None:
    token, entry = accounts.issue(path, "Nguyễn Văn A", "operator", NOW + timedelta(days=9),
                                  NOW)
    text = path.read_text()
    assert token not in text and hash_token(token) in text
    principal = TokenStore(path).check(token, NOW)
    assert principal is not None
    assert (principal.name, principal.role, principal.token_id) == (
        "Nguyễn Văn A", "operator", entry["id"])
    assert principal.has_role("viewer") and principal.has_role("operator")
    assert not principal.has_role("admin")


def test_expired_and_revoked_tokens_are_refused_without_a_restart(path: Path) -> None:
    store = TokenStore(path)
    token, entry = accounts.issue(path, "Trần Thị B", "viewer", NOW + timedelta(hours=1), NOW)
    assert store.check(token, NOW) is not None
    with pytest.raises(TokenRefused) as expired:
        store.check(token, NOW + timedelta(hours=2))
    assert expired.value.why == "expired"
    accounts.revoke(path, entry["id"], "left the ministry", NOW)
    with pytest.raises(TokenRefused) as revoked:
        store.check(token, NOW)  # the store reread the file it changed
    assert revoked.value.why == "revoked"
    with pytest.raises(accounts.AccountError):
        accounts.revoke(path, "tok-000000000000", "no such token", NOW)


def test_a_unit_token_rotates_with_an_overlap(path: Path) -> None:
    old = plain_of(path)["units"]["police:phu-tho"]
    other = plain_of(path)["units"]["police:bac-ninh"]
    store = TokenStore(path)
    now = datetime.now(UTC)
    new, _entry, shortened = accounts.rotate_unit(path, "police:phu-tho",
                                                 now + timedelta(days=400),
                                                 timedelta(hours=72), now)
    assert len(shortened) == 1
    assert store.check(old, now + timedelta(hours=71)) is not None
    with pytest.raises(TokenRefused):
        store.check(old, now + timedelta(hours=73))
    assert present(store.check(new, now + timedelta(hours=73))).unit_id == "police:phu-tho"
    assert store.check(other, now + timedelta(hours=73)) is not None  # another unit's stays


def test_a_version_1_file_is_not_honoured(tmp_path: Path) -> None:
    target = tmp_path / "old.json"
    target.write_text(json.dumps({"tokens": {hash_token("t"): {"kind": "operator"}}}))
    assert TokenStore(target).check("t") is None
    with pytest.raises(ValueError):
        accounts.issue(target, "Lê Văn C", "admin", NOW + timedelta(days=1), NOW)


@pytest.mark.parametrize("argv", [
    ["issue", "--name", "A B", "--role", "root"],
    ["issue", "--name", "A B", "--role", "admin", "--expires", "2020-01-01T00:00:00Z"],
    ["issue", "--name", "A B", "--role", "admin", "--expires", "5000d"],
    ["issue", "--name", "A B", "--role", "admin", "--expires", "soon"],
    ["issue", "--name", "x", "--role", "admin"],
    ["issue-unit", "--unit", "Police Phu Tho"],
    ["revoke", "--id", "tok-1", "--reason", "x"],
    ["rotate-unit", "--unit", "police:phu-tho", "--overlap", "forever"],
])
def test_the_cli_refuses_bad_requests_clearly(path: Path, argv: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    before = path.read_text()
    try:
        code = accounts.main(["--file", str(path), *argv])
    except SystemExit as exc:  # argparse's own refusal (an unknown role)
        code = int(exc.code or 0)
    assert code == 2
    assert capsys.readouterr().err.strip()
    assert path.read_text() == before


def test_the_cli_shows_a_token_once_and_lists_without_it(
        path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert accounts.main(["--file", str(path), "issue", "--name", "Phạm D", "--role",
                          "admin", "--expires", "30d"]) == 0
    out = capsys.readouterr().out
    token = next(line.split()[-1] for line in out.splitlines() if line.startswith("token:"))
    assert present(TokenStore(path).check(token)).role == "admin"
    assert accounts.main(["--file", str(path), "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert token not in listed and "Phạm D" in listed and "police:phu-tho" in listed


def test_roles_decide_what_an_account_may_do(path: Path,
                                             app: tuple[TestClient, MemoryAuditLog]) -> None:
    client, audit = app
    viewer, _ = accounts.issue(path, "Viewer V", "viewer", NOW + timedelta(days=30))
    operator, _ = accounts.issue(path, "Operator O", "operator", NOW + timedelta(days=30))
    unit = plain_of(path)["units"]["police:phu-tho"]
    assert client.get("/v1/things", headers=bearer(viewer)).status_code == 200
    assert client.get("/v1/things", headers=bearer(unit)).status_code == 403
    for token in (viewer, unit):
        refused = client.post("/v1/things/a", headers=bearer(token))
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert audit.records == []  # refusals write nothing
    assert client.post("/v1/things/a", headers=bearer(operator)).status_code == 200
    assert client.get("/v1/audit", headers=bearer(operator)).status_code == 403
    assert client.get("/v1/audit", headers=bearer(plain_of(path)["admin"])).status_code == 200


def test_an_operator_action_is_audited_with_who_what_why_and_the_state(
        path: Path, app: tuple[TestClient, MemoryAuditLog]) -> None:
    client, audit = app
    token, entry = accounts.issue(path, "Nguyễn Văn A", "operator", NOW + timedelta(days=30))
    missing = client.post("/v1/things/a", headers=bearer(token, reason=None))
    assert missing.status_code == 422 and missing.json()["type"].endswith("reason-required")
    assert client.post("/v1/things/a", headers=bearer(token, "ab")).status_code == 422
    assert audit.records == []
    assert client.post("/v1/things/a?period=2026",
                       headers=bearer(token, "đơn vị xin mở khóa")).status_code == 200
    [record] = audit.records
    assert record["actor"]["name"] == "Nguyễn Văn A"
    assert record["actor"]["token_id"] == entry["id"] and record["actor"]["role"] == "operator"
    assert record["reason"] == "đơn vị xin mở khóa"
    assert (record["action"], record["method"], record["route"]) == (
        "change", "POST", "/v1/things/{thing_id}")
    assert record["target"] == {"thing_id": "a", "period": "2026"}
    assert (record["before"], record["after"], record["status"]) == ({"n": 1}, {"n": 2}, 200)
    assert record["service"] == "things"


def test_the_audit_trail_pages_newest_first(path: Path,
                                            app: tuple[TestClient, MemoryAuditLog]) -> None:
    client, _ = app
    admin = plain_of(path)["admin"]
    for i in range(5):
        assert client.post(f"/v1/things/{i}", headers=bearer(admin)).status_code == 200
    seen, cursor = [], None
    while True:
        page = client.get("/v1/audit", params={"limit": 2, **({"cursor": cursor} if cursor
                                                               else {})},
                          headers=bearer(admin)).json()
        seen += [r["target"]["thing_id"] for r in page["records"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["4", "3", "2", "1", "0"]
    bad = client.get("/v1/audit", params={"cursor": "{'$gt': ''}"}, headers=bearer(admin))
    assert bad.status_code == 422


def test_a_bad_or_expired_token_is_a_401_problem(path: Path,
                                                 app: tuple[TestClient, MemoryAuditLog]) -> None:
    client, audit = app
    doc = json.loads(path.read_text())
    token = "expired-token-of-the-test"
    doc["tokens"][hash_token(token)] = {"id": "tok-aaaaaaaaaaaa", "kind": "operator",
                                        "name": "Old", "role": "admin",
                                        "issued_at": "2025-01-01T00:00:00Z",
                                        "expires_at": "2025-02-01T00:00:00Z",
                                        "revoked_at": None}
    path.write_text(json.dumps(doc))
    for headers in ({}, bearer("guess"), bearer(token), {"Authorization": "Basic x"}):
        resp = client.post("/v1/things/a", headers=headers)
        assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Bearer")
        assert resp.headers["content-type"] == "application/problem+json"
    assert "expired" in client.get("/v1/things", headers=bearer(token)).json()["detail"]
    assert audit.records == []


def test_a_member_reads_ranks_and_totals_but_only_its_own_details() -> None:
    standings = {"cluster_id": "mps-cluster-1", "standings": [
        {"unit_id": "police:a", "rank": 1, "score": 90, "breakdown": [{"criterion": "x"}]},
        {"unit_id": "police:b", "rank": 2, "score": 80, "breakdown": [{"criterion": "y"}]}]}
    from services.common.auth import Principal
    seen = own_rows_only(Principal("unit", "police:b"), standings)
    assert [r["breakdown"] for r in seen["standings"]] == [[], [{"criterion": "y"}]]
    assert [r["score"] for r in seen["standings"]] == [90, 80]
    assert own_rows_only(Principal("operator", role="viewer"), standings) == standings
    report = {"standings": standings["standings"], "missing_units": [
        {"unit_id": "police:a", "reminders": [{"recipient": "a@x.vn", "stage": "d-7"}]},
        {"unit_id": "police:b", "reminders": [{"recipient": "+84900000000", "stage": "d-7"}]}]}
    copy = member_copy(report, "police:b")
    assert copy["missing_units"][0]["reminders"] == [{"stage": "d-7"}]
    assert copy["missing_units"][1]["reminders"][0]["recipient"] == "+84900000000"
    assert copy["standings"][0]["breakdown"] == []
    assert report["missing_units"][0]["reminders"][0]["recipient"] == "a@x.vn"  # not changed


def test_a_state_with_dotted_keys_is_stored_under_keys_the_database_takes() -> None:
    from services.common.audit import bounded

    state = bounded({"applied": {"emulation.scores.v1": 3, "$where": 1},
                     "at": datetime(2026, 1, 1, tzinfo=UTC)})
    assert state["applied"] == {"emulation\u2024scores\u2024v1": 3, "\uff04where": 1}
    assert state["at"] == "2026-01-01T00:00:00+00:00"
    assert "truncated" in bounded({"big": "x" * 30_000})


def test_the_reason_header_is_documented_on_every_action(
        app: tuple[TestClient, MemoryAuditLog]) -> None:
    spec = app[0].get("/openapi.json").json()
    action = spec["paths"]["/v1/things/{thing_id}"]["post"]
    assert "Audit-Reason" in {p["name"] for p in action["parameters"] if p["in"] == "header"}
    read = spec["paths"]["/v1/things"]["get"]
    assert "Audit-Reason" not in {p["name"] for p in read.get("parameters", [])}


def test_an_entry_without_a_readable_expiry_is_refused_and_spoils_nothing(path: Path) -> None:
    doc = json.loads(path.read_text())
    doc["tokens"][hash_token("odd")] = {"id": "tok-bbbbbbbbbbbb", "kind": "operator",
                                        "name": "Odd", "role": "admin",
                                        "issued_at": "2026-01-01T00:00:00Z",
                                        "expires_at": "next year", "revoked_at": None}
    path.write_text(json.dumps(doc))
    store = TokenStore(path)
    with pytest.raises(TokenRefused):
        store.check("odd")
    assert store.check(plain_of(path)["admin"]) is not None
