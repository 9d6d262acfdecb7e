"""Issue 3 over the real stack: the registry endpoint, deadline and unlock rules,
revisions with their differences, both ways in giving the same result, and
schemathesis finding no 5xx in the submissions API."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.conftest import request_for
from tests.stackfixture import Stack, unique_key, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2027  # this file's own period: no other test submits for it
BEFORE = "2027-11-25T10:00:00+07:00"
AFTER = "2027-12-02T10:00:00+07:00"


def post(stack: Stack, body: dict[str, Any], token: str | None = None,
         key: str | None = None) -> Any:
    with stack.client("submissions", token or stack.token(body["unit_id"])) as c:
        return c.post("/v1/submissions", json=body,
                      headers={"Idempotency-Key": key or unique_key()})


def test_units_of_a_year_follow_the_registry(stack: Stack) -> None:
    with stack.client("submissions", stack.token("police:phu-tho")) as c:
        y2024 = c.get("/v1/units", params={"period": 2024}).json()
        y2025 = c.get("/v1/units", params={"period": 2025}).json()
        assert c.get("/v1/units", params={"period": "abc"}).status_code == 422
    provinces = lambda units: [u for u in units if u["type"] == "province"]  # noqa: E731
    assert len(provinces(y2024)) == 63 and len(provinces(y2025)) == 34
    cluster4 = lambda units: sorted(  # noqa: E731
        u["unit_id"] for u in units if u["cluster_id"] == "mps-cluster-4")
    assert cluster4(y2024) == sorted(["police:quang-ninh", "police:phu-tho", "police:bac-ninh",
                                      "police:bac-giang", "police:hoa-binh", "police:vinh-phuc"])
    assert cluster4(y2025) == sorted(["police:phu-tho", "police:bac-ninh", "police:quang-ninh",
                                      "police:lang-son", "police:thai-nguyen", "police:hung-yen"])
    hoa_binh = next(u for u in y2024 if u["unit_id"] == "province:hoa-binh")
    assert hoa_binh["successor"] == "province:phu-tho" and hoa_binh["name"] == "Tỉnh Hòa Bình"


def test_amendments_keep_every_revision_and_its_changes(clock: Stack,
                                                        example_request: dict) -> None:
    clock.set_clock(BEFORE, ("submissions",))
    unit = "ministry:public-security"
    first = request_for(example_request, unit, PERIOD)
    r1 = post(clock, first)
    assert r1.status_code == 202, r1.text
    second = json.loads(json.dumps(first))
    second["contents"]["propaganda"]["indicators"]["people_reached"] = 999
    r2 = post(clock, second)
    assert r2.status_code == 202 and r2.json()["revision"] == 2
    assert r2.json()["supersedes"] == r1.json()["submission_id"]
    with clock.client("submissions", clock.token(unit)) as c:
        revs = c.get(f"/v1/units/{unit}/submissions", params={"period": PERIOD}).json()
    assert [r["revision"] for r in revs] == [1, 2]
    assert revs[0]["content"] == first and revs[1]["content"] == second
    assert revs[1]["changes"] == [{
        "path": "/contents/propaganda/indicators/people_reached", "op": "replace",
        "before": first["contents"]["propaganda"]["indicators"]["people_reached"],
        "after": 999}]
    assert all(r["status"] == "accepted" for r in revs)


def test_deadline_late_first_report_and_unlocks(clock: Stack, example_request: dict) -> None:
    unit = "province:nghe-an"
    clock.set_clock(AFTER, ("submissions",))
    body = request_for(example_request, unit, PERIOD)
    late = post(clock, body)
    assert late.status_code == 202 and late.json()["on_time"] is False
    amended = dict(body, notes="after the deadline")
    refused = post(clock, amended)
    assert refused.status_code == 409 and refused.json()["type"].endswith("deadline-passed")
    with clock.as_operator("submissions") as c:
        assert c.post(f"/v1/units/{unit}/unlocks", json={"period": PERIOD, "reason": "typo",
                                                         "hours": 24}).status_code == 201
    ok = post(clock, amended)
    assert ok.status_code == 202 and ok.json()["revision"] == 2
    assert ok.json()["on_time"] is False  # an amendment keeps the first report's timeliness
    clock.set_clock("2027-12-04T10:00:00+07:00", ("submissions",))
    expired = post(clock, dict(body, notes="too late again"))
    assert expired.status_code == 409 and expired.json()["type"].endswith("unlock-expired")
    with clock.as_operator("submissions") as c:
        assert c.post(f"/v1/units/{unit}/locks", json={
            "period": PERIOD, "reason": "conference held"}).status_code == 201
    locked = post(clock, dict(body, notes="locked"))
    assert locked.status_code == 409 and "conference held" in locked.json()["detail"]
    with clock.client("submissions", clock.token(unit)) as c:
        assert c.post(f"/v1/units/{unit}/unlocks", json={
            "period": PERIOD, "reason": "self-service"}).status_code == 403


def test_both_ways_in_store_the_same_result(stack: Stack, example_request: dict) -> None:
    via_http, via_kafka = "front:vietnam-womens-union", "front:vietnam-farmers-union"
    http_body = request_for(example_request, via_http, 2026)
    kafka_body = request_for(example_request, via_kafka, 2026)
    assert post(stack, http_body).status_code == 202
    envelope = {"specversion": "1.0", "id": f"t-{uuid.uuid4()}", "source": "urn:test",
                "type": "vn.emulation.submission.requested", "subject": via_kafka,
                "time": "2026-11-20T02:00:00+00:00", "data": kafka_body,
                "dataschema": "urn:emulation:schema:submission-requested:v1"}
    producer = stack.producer()
    value = json.dumps(envelope).encode()
    producer.send("emulation.submission-requests.v1", key=via_kafka.encode(), value=value,
                  headers=stack.proof(via_kafka, value))
    producer.flush()
    producer.close()
    with stack.as_operator("submissions") as c:
        a = c.get(f"/v1/units/{via_http}/submissions", params={"period": 2026}).json()[-1]
        b = wait_for("the Kafka submission", lambda: c.get(
            f"/v1/units/{via_kafka}/submissions", params={"period": 2026}).json())[-1]
    same = ("revision", "on_time", "deadline", "status", "changes")
    assert {k: a[k] for k in same} == {k: b[k] for k in same}
    assert a["content"] == http_body and b["content"] == kafka_body


def test_an_invalid_body_is_refused_the_same_way_both_ways(stack: Stack,
                                                           example_request: dict) -> None:
    unit = "front:vietnam-veterans-association"
    bad = request_for(example_request, unit, 2026)
    bad["self_assessment"] = {"P1": {"rating": 1}}
    http = post(stack, bad)
    assert http.status_code == 422
    envelope = {"specversion": "1.0", "id": f"t-{uuid.uuid4()}", "source": "urn:test",
                "type": "vn.emulation.submission.requested", "subject": unit,
                "time": "2026-11-20T02:00:00+00:00", "data": bad,
                "dataschema": "urn:emulation:schema:submission-requested:v1"}
    producer = stack.producer()
    value = json.dumps(envelope).encode()
    producer.send("emulation.submission-requests.v1", key=unit.encode(), value=value,
                  headers=stack.proof(unit, value))
    producer.flush()
    producer.close()
    letters = stack.read_topic("emulation.submission-requests.dlq.v1",
                               lambda e: envelope["id"] in e.get("data", {}).get("value", ""))
    assert letters[0]["data"]["reason"] == "schema-violation"
    http_fields = {e["field"] for e in http.json()["errors"]}
    kafka_fields = {e["field"].removeprefix("data/") for e in letters[0]["data"]["errors"]}
    assert http_fields == kafka_fields


def test_no_input_makes_the_submissions_api_fail(clock: Stack) -> None:
    """Schemathesis generates requests from /openapi.json for every operation; none may
    get a 5xx, and every error must be a problem-details body. (It also sets the clock
    to random times: the `clock` fixture puts it back.)"""
    stack = clock
    api = schemathesis.openapi.from_url(stack.cfg.service_url("submissions") + "/openapi.json")
    auth = {"Authorization": f"Bearer {stack.operator}", "Audit-Reason": "property test"}
    seen: list[str] = []
    for result in api.get_all_operations():
        operation = result.ok()
        seen.append(f"{operation.method.upper()} {operation.path}")

        # No shrinking: a failure prints the generated case, and shrinking can take minutes.
        @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(headers=auth, timeout=30)
            assert response.status_code < 500, (case.method, case.path, response.text[:500])
            if response.status_code >= 400:
                content_type = response.headers.get("content-type", [""])
                assert str(content_type[0]).startswith("application/problem+json"), case.path

        run()
    assert "POST /v1/submissions" in seen and len(seen) >= 6
