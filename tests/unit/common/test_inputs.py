"""The safe JSON parse every route reads its body through, and the bounds on values:
each input class that passed the schema and then broke a service (issue 16) is refused
with a 4xx problem that names the field."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from services.common import inputs, metrics, schemas
from services.common.auth import TokenStore, issue_credentials
from services.common.clock import ControlledClock
from services.common.http import create_app
from services.common.inputs import MAX_DEPTH, IntegralFloat, parse
from services.common.problems import Problem
from services.notifications.api import CampaignWrite
from services.notifications.campaigns import CampaignInvalid, build_campaign, load_defaults

ROOT = Path(__file__).resolve().parents[3]


def example() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        (ROOT / "schemas/examples/submission-request.json").read_text("utf-8"))
    return body


def refused(raw: str | bytes) -> Problem:
    with pytest.raises(Problem) as caught:
        parse(raw.encode() if isinstance(raw, str) else raw)
    return caught.value


def fields(problem: Problem) -> list[str]:
    return [e["field"] for e in problem.extra.get("errors", [])]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_numbers_are_refused_naming_the_field(token: str) -> None:
    problem = refused('{"contents": {"propaganda": {"indicators": {"x": ' + token + "}}}}")
    assert (problem.status, problem.code) == (422, "unsupported-json")
    assert fields(problem) == ["contents/propaganda/indicators/x"]


@pytest.mark.parametrize("digits", [20, 4301, 100_000])
def test_integers_beyond_64_bits_are_refused_without_converting_them(digits: int) -> None:
    problem = refused('{"period": ' + "9" * digits + "}")
    assert problem.status == 422 and fields(problem) == ["period"]
    assert f"{digits} digits" in problem.detail


def test_the_64_bit_edges() -> None:
    assert parse(str(2**63 - 1).encode()) == 2**63 - 1
    assert parse(str(-(2**63)).encode()) == -(2**63)
    assert fields(refused(f"[1, {2**63}]")) == ["1"]
    assert fields(refused(f"[{-(2**63) - 1}]")) == ["0"]


def test_nesting_is_bounded_and_named() -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse(ok.encode()) is not None
    deep = '{"notes": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}"
    problem = refused(deep)
    assert problem.status == 422
    assert fields(problem) == ["notes/" + "/".join(["0"] * (MAX_DEPTH - 1))]


def test_nesting_beyond_the_interpreter_is_refused_not_a_recursion_error() -> None:
    problem = refused("[" * 100_000 + "]" * 100_000)
    assert (problem.status, fields(problem)) == (422, ["(root)"])
    problem = refused('{"a": ' * 5000 + "1" + "}" * 5000)
    assert problem.status == 422


@pytest.mark.parametrize("raw, field", [
    ('{"notes": "ok \\ud800"}', "notes"),
    ('{"notes": "\\udfff"}', "notes"),
    ('{"a": ["x", {"b": "\\ud83d"}]}', "a/1/b"),
    ('{"\\ud800": 1}', "\\ud800"),
])
def test_lone_surrogates_are_refused(raw: str, field: str) -> None:
    problem = refused(raw)
    assert problem.status == 422 and fields(problem) == [field]


def test_a_surrogate_pair_is_a_character() -> None:
    assert parse(b'{"notes": "\\ud83d\\ude00"}') == {"notes": "\U0001f600"}
    assert parse(b'{"notes": "\\\\ud800"}') == {"notes": "\\ud800"}  # an escaped backslash


@pytest.mark.parametrize("raw", [b"{", b"", b"\xff\xfe{}", b'{"a": "\xed\xa0\x80"}',
                                 "\ufeff{}".encode(), b"[1,]"])
def test_what_is_not_utf8_json_is_400(raw: bytes) -> None:
    problem = refused(raw)
    assert (problem.status, problem.code) == (400, "malformed-json")


def test_every_unfit_value_is_named_up_to_a_bound() -> None:
    problem = refused(json.dumps({f"k{i}": "NaN-here" for i in range(50)}).replace(
        '"NaN-here"', "NaN"))
    assert len(fields(problem)) == inputs.MAX_ERRORS
    assert fields(problem) == sorted(fields(problem))


def test_integral_floats_are_kept_apart_from_integers() -> None:
    value = parse(b'{"period": 2024.0, "x": 2.5e3, "y": 1.5, "z": 7}')
    assert type(value["period"]) is IntegralFloat and value["period"] == 2024
    assert type(value["x"]) is IntegralFloat
    assert type(value["y"]) is float and type(value["z"]) is int


def test_a_non_integral_period_is_refused_by_the_schema() -> None:
    body = example()
    raw = json.dumps(body).replace('"period": 2026', '"period": 2026.0')
    raw = raw.replace('"P2": {"rating": 8}', '"P2": {"rating": 8.0}')
    parsed = parse(raw.encode())
    found = [e.field for e in schemas.errors("submission-request.v1", parsed)]
    assert found == ["period", "self_assessment/P2/rating"]
    # A whole number where a number is expected stays fine.
    raw = json.dumps(body).replace('"plans_issued": 3', '"plans_issued": 3.0')
    assert schemas.errors("submission-request.v1", parse(raw.encode())) == []


def test_error_collection_is_bounded_and_off_the_loop() -> None:
    body = example()
    body["contents"]["propaganda"]["indicators"] = {f"Bad-{i}": -1 for i in range(20_000)}
    started = time.perf_counter()
    found = asyncio.run(schemas.errors_off_loop("submission-request.v1", body))
    assert 0 < len(found) <= schemas.MAX_ERRORS
    assert time.perf_counter() - started < 10  # unbounded, this took seconds on one core


def test_large_bodies_are_parsed_off_the_loop() -> None:
    raw = ("[" + ",".join(["1"] * 100_000) + "]").encode()
    assert len(raw) > inputs.OFF_LOOP_BYTES

    async def ticks_while_parsing() -> int:
        ticks = 0
        parsing = asyncio.ensure_future(inputs.parse_body(raw))
        while not parsing.done():
            ticks += 1
            await asyncio.sleep(0)
        assert len(await parsing) == 100_000
        return ticks

    assert asyncio.run(ticks_while_parsing()) > 1


# -- dates ------------------------------------------------------------------------------

@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                  "1999-12-31T23:00:00+07:00", "2101-01-01T00:00:00Z"])
def test_campaign_deadlines_outside_the_platform_years_are_refused(when: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CampaignWrite.model_validate({"deadline": when})
    assert caught.value.errors()[0]["loc"] == ("deadline",)
    # A stored one (written before this bound) is a CampaignInvalid, which every pass
    # already catches, rather than an OverflowError later.
    with pytest.raises(CampaignInvalid):
        build_campaign(2026, {**load_defaults(), "deadline": when})
    CampaignWrite.model_validate({"deadline": "2026-11-30T23:59:59+07:00"})


# -- every route, through the shared shell ----------------------------------------------

class Body(BaseModel):
    n: float
    note: str = ""


@contextlib.asynccontextmanager
async def no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture
def client(tmp_path: Path) -> tuple[TestClient, str]:
    plain, hashed = issue_credentials(["police:phu-tho"])
    path = tmp_path / "hashed.json"
    path.write_text(json.dumps(hashed))
    app = create_app(title="t", lifespan=no_lifespan, tokens=TokenStore(path),
                     clock=ControlledClock(), readiness={}, max_body_bytes=1_000_000)

    @app.post("/things")
    async def things(body: Body) -> dict[str, Any]:
        return {"n": body.n, "note": body.note}

    return TestClient(app, raise_server_exceptions=False), plain["admin"]


@pytest.mark.parametrize("raw, field", [
    ('{"n": NaN}', "n"),
    ('{"n": -Infinity}', "n"),
    ('{"n": 1, "note": "\\ud800"}', "note"),
    ('{"n": ' + "1" * 5000 + "}", "n"),
    ('{"n": 1, "x": ' + "[" * 40 + "]" * 40 + "}", "x/" + "/".join(["0"] * (MAX_DEPTH - 1))),
])
def test_a_pydantic_route_is_guarded_too(client: tuple[TestClient, str], raw: str,
                                         field: str) -> None:
    http, _ = client
    counted = metrics.HTTP_REQUESTS.labels("POST", "/things", "422")
    before = counted._value.get()
    resp = http.post("/things", content=raw, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["type"].endswith("unsupported-json")
    assert [e["field"] for e in resp.json()["errors"]] == [field]
    # Counted under its route, like the route's own refusals.
    assert counted._value.get() == before + 1


def test_the_guard_passes_good_bodies_and_other_media(client: tuple[TestClient, str]) -> None:
    http, _ = client
    assert http.post("/things", json={"n": 2.5, "note": "ok"}).json() == {"n": 2.5,
                                                                          "note": "ok"}
    resp = http.post("/things", content="{", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["type"].endswith("malformed-json")
    resp = http.post("/things", content="NaN", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 422  # FastAPI's own refusal: not JSON, not parsed
    big = ("[" + ",".join(["1"] * 600_000) + "]").encode()
    resp = http.post("/things", content=big, headers={"Content-Type": "application/json"})
    assert resp.status_code == 413


def test_the_operator_clock_stays_in_the_platform_years(client: tuple[TestClient, str]
                                                        ) -> None:
    http, operator = client
    for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z"):
        resp = http.put("/v1/admin/clock", json={"now": when},
                        headers={"Authorization": f"Bearer {operator}",
                                 "Audit-Reason": "unit test"})
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == "now"


def test_a_value_parsed_elsewhere_is_held_to_the_same_rules() -> None:
    """The Kafka way in reads a record's data with the envelope (`json.loads`): the same
    inputs are refused there, naming the same fields, and `2024.0` is marked so the
    schema refuses it."""
    body = example()
    for text, field in (("NaN", "contents/implement_directives/indicators/plans_issued"),
                        ("-Infinity", "contents/implement_directives/indicators/plans_issued"),
                        ("1e999", "contents/implement_directives/indicators/plans_issued"),
                        ("9" * 20, "contents/implement_directives/indicators/plans_issued")):
        value = json.loads(json.dumps(body).replace('"plans_issued": 3',
                                                    f'"plans_issued": {text}'))
        with pytest.raises(Problem) as caught:
            inputs.check_parsed(value)
        assert caught.value.status == 422 and caught.value.code == "unsupported-json"
        assert [e["field"] for e in caught.value.extra["errors"]] == [field], text
    value = json.loads(json.dumps(body).replace('"self_assessment"',
                                                '"notes\\ud800": "a\\udfff", "self_assessment"'))
    with pytest.raises(Problem) as caught:
        inputs.check_parsed(value)
    assert sorted(e["message"] for e in caught.value.extra["errors"]) == [
        "a member name with a lone surrogate (not UTF-8)",
        "a string with a lone surrogate (not UTF-8)"]
    nested: Any = 1
    for _ in range(MAX_DEPTH + 5):
        nested = [nested]
    with pytest.raises(Problem) as caught:
        inputs.check_parsed({"flags_held": nested})
    assert caught.value.extra["errors"][0]["message"] == f"nested deeper than {MAX_DEPTH} levels"
    # The 64-bit edges pass, one beyond does not.
    assert inputs.check_parsed({"n": [2**63 - 1, -(2**63)]}) == {"n": [2**63 - 1, -(2**63)]}
    with pytest.raises(Problem):
        inputs.check_parsed({"n": 2**63})
    # A whole float is marked: the schema refuses it as a period, takes it as a number.
    value = json.loads(json.dumps(body).replace('"period": 2026', '"period": 2026.0'))
    checked = inputs.check_parsed(value)
    assert isinstance(checked["period"], IntegralFloat)
    assert [e.field for e in schemas.errors("submission-request.v1", checked)] == ["period"]
    assert inputs.check_parsed(body) == body
    assert schemas.errors("submission-request.v1", inputs.check_parsed(body)) == []
