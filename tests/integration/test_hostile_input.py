"""Issue 16 on the real stack: each input that passed the schema and then broke a service
is refused with a 4xx problem naming the field (nothing stored, the process still
answering), an earlier body sent again without a key becomes a new revision, and the
exports of a season whose units wrote formulas, control characters and bidirectional
overrides open with the text intact and no formula. Periods 2028 (input, revisions) and
2029 (exports)."""

from __future__ import annotations

import concurrent.futures
import copy
import io
import json
import time
import uuid
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from tests.conftest import request_for
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration
PERIOD = 2028
EXPORT_PERIOD = 2029
IN_2028 = "2028-11-20T09:00:00+07:00"
IN_2029 = "2029-11-20T09:00:00+07:00"
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def post_raw(stack: Stack, unit: str, raw: bytes, key: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    with stack.client("submissions", stack.token(unit)) as c:
        return c.post("/v1/submissions", content=raw, headers=headers)


def revisions(stack: Stack, unit: str, period: int) -> list[dict[str, Any]]:
    with stack.client("submissions", stack.token(unit)) as c:
        return list(c.get(f"/v1/units/{unit}/submissions", params={"period": period}).json())


def test_a_resubmitted_earlier_body_becomes_a_new_revision(clock: Stack,
                                                           example_request: dict) -> None:
    clock.set_clock(IN_2028, ("submissions",))
    unit = "police:ha-tinh"
    a = request_for(example_request, unit, PERIOD)
    b = copy.deepcopy(a)
    b["notes"] = "amended figures"
    raw_a, raw_b = json.dumps(a).encode(), json.dumps(b).encode()
    first = post_raw(clock, unit, raw_a)
    assert first.status_code == 202, first.text
    retry = post_raw(clock, unit, raw_a)  # a retry without a key: the same submission
    assert retry.status_code == 202 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    second = post_raw(clock, unit, raw_b)
    assert second.json()["revision"] == 2
    third = post_raw(clock, unit, raw_a)  # A again, over B: a new revision, in force
    assert third.status_code == 202 and third.headers["Idempotent-Replayed"] == "false"
    assert third.json()["revision"] == 3
    assert third.json()["supersedes"] == second.json()["submission_id"]
    assert post_raw(clock, unit, raw_a).json() == third.json()
    stored = revisions(clock, unit, PERIOD)
    assert [(r["revision"], r["content"].get("notes")) for r in stored] == [
        (1, a.get("notes")), (2, "amended figures"), (3, a.get("notes"))]
    # With a key, the key decides, as before: the same key is the same submission.
    keyed = post_raw(clock, unit, raw_b, key="h16-keyed")
    assert keyed.json()["revision"] == 4
    assert post_raw(clock, unit, raw_b, key="h16-keyed").json() == keyed.json()
    assert post_raw(clock, unit, raw_a, key="h16-keyed").status_code == 409


def _named_cases(base: dict[str, Any]) -> list[tuple[str, bytes, int, str]]:
    text = json.dumps(base)
    deep = "[" * 2000 + "]" * 2000
    nested: list[Any] = []
    for _ in range(40):
        nested = [nested]
    return [
        ("nesting past the interpreter", text[:-1].encode() + b', "notes": '
         + deep.encode() + b"}", 422, "(root)"),
        ("nesting past the bound", json.dumps(dict(base, flags_held=nested)).encode(),
         422, "flags_held/0/0/0"),
        ("an integer of 5,000 digits", text.replace('"period": 2028', '"period": '
         + "9" * 5000).encode(), 422, "period"),
        ("NaN", text.replace('"plans_issued": 3', '"plans_issued": NaN').encode(), 422,
         "contents/implement_directives/indicators/plans_issued"),
        ("Infinity", text.replace('"plans_issued": 3', '"plans_issued": Infinity').encode(),
         422, "contents/implement_directives/indicators/plans_issued"),
        ("a lone surrogate", text.replace('"self_assessment"', '"notes": "x\\ud800", '
                                          '"self_assessment"').encode(), 422, "notes"),
        ("a non-integral period", text.replace('"period": 2028', '"period": 2028.0').encode(),
         422, "period"),
    ]


def test_named_inputs_are_refused_naming_the_field(clock: Stack, example_request: dict
                                                   ) -> None:
    clock.set_clock(IN_2028, ("submissions",))
    unit = "police:tuyen-quang"
    base = request_for(example_request, unit, PERIOD)
    for name, raw, status, field in _named_cases(base):
        resp = post_raw(clock, unit, raw)
        assert resp.status_code == status, (name, resp.text[:300])
        assert resp.headers["content-type"] == "application/problem+json", name
        fields = [e["field"] for e in resp.json()["errors"]]
        assert any(f.startswith(field) for f in fields), (name, resp.text[:300])
    assert revisions(clock, unit, PERIOD) == []
    with clock.client("submissions") as c:
        assert c.get("/healthz").status_code == 200


def test_a_large_invalid_body_is_refused_without_holding_the_process(
        clock: Stack, example_request: dict) -> None:
    clock.set_clock(IN_2028, ("submissions",))
    unit = "police:lao-cai"
    body = request_for(example_request, unit, PERIOD)
    body["contents"]["propaganda"]["indicators"] = {f"Bad-{i}": -1 for i in range(50_000)}
    raw = json.dumps(body).encode()
    assert 800_000 < len(raw) < 1_000_000
    slowest = 0.0
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        posts = [pool.submit(post_raw, clock, unit, raw) for _ in range(4)]
        with clock.client("submissions") as c:
            while not all(p.done() for p in posts):
                started = time.monotonic()
                assert c.get("/healthz").status_code == 200
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.05)
        for p in posts:
            resp = p.result()
            assert resp.status_code == 422, resp.text[:300]
            assert 0 < len(resp.json()["errors"]) <= 50
    # Generous for a loaded machine: validated on the loop with every error worded, each
    # body held it over a second, the four together ~5 s.
    assert slowest < 2.5
    assert revisions(clock, unit, PERIOD) == []


def test_a_campaign_deadline_outside_the_platform_years_is_refused(stack: Stack) -> None:
    with stack.as_operator("notifications") as c:
        for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
            resp = c.put(f"/v1/campaigns/{PERIOD}", json={"deadline": when})
            assert resp.status_code == 422, resp.text
            assert resp.json()["errors"][0]["field"] == "deadline"
        assert c.get(f"/v1/campaigns/{PERIOD}").status_code == 404  # nothing stored
        assert c.get("/v1/campaigns").status_code == 200


HOSTILE_SUMMARIES = [
    "=HYPERLINK(\"http://evil.example\",\"bấm vào đây\") Tổ dân phố",
    "+1+cmd|' /C calc'!A0 Nhân rộng mô hình",
    "-2+3 Kiện toàn Ban Chỉ đạo",
    "@SUM(1,2) Tuyên truyền",
    "Dòng một\x0bdòng hai\x0cdòng ba \u202etự quản\u202c an toàn\u2066x\u2069",
]
EXPORT_UNITS = ["police:son-la", "police:dien-bien", "police:lai-chau"]


def test_exports_of_hostile_texts_open_with_no_formula(clock: Stack,
                                                       example_request: dict) -> None:
    clock.set_clock(IN_2029, ("submissions",))
    texts = iter(HOSTILE_SUMMARIES * 4)
    for unit in EXPORT_UNITS:
        body = request_for(example_request, unit, EXPORT_PERIOD)
        for content in body["contents"].values():
            content["summary"] = next(texts)
        resp = post_raw(clock, unit, json.dumps(body).encode())
        assert resp.status_code == 202, resp.text

    with clock.as_operator("reporting") as c:
        def counted() -> dict[str, Any] | None:
            report = c.get("/v1/reports/national", params={
                "period": EXPORT_PERIOD, "movement": "vi-an-ninh"}).json()
            return report if report.get("submitted") == len(EXPORT_UNITS) else None

        wait_for("the three reports counted", counted, timeout=60)
        files = {}
        for fmt in ("xlsx", "pdf", "html", "csv"):
            resp = c.get("/v1/reports/national", params={
                "period": EXPORT_PERIOD, "movement": "vi-an-ninh", "format": fmt})
            assert resp.status_code == 200, (fmt, resp.text[:300])
            files[fmt] = resp.content

    wb = load_workbook(io.BytesIO(files["xlsx"]))
    strings = [cell.value for ws in wb.worksheets for row in ws.iter_rows() for cell in row
               if isinstance(cell.value, str)]
    assert not [c for ws in wb.worksheets for row in ws.iter_rows() for c in row
                if c.data_type == "f"]
    for expected in ("=HYPERLINK(\"http://evil.example\",\"bấm vào đây\") Tổ dân phố",
                     "@SUM(1,2) Tuyên truyền", "Dòng một\ndòng hai\ndòng ba tự quản an toànx"):
        assert expected in strings, expected
    pdf_text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(files["pdf"])).pages)
    assert not set(pdf_text) & BIDI and "Tuyên truyền" in pdf_text
    page = files["html"].decode("utf-8")
    assert not set(page) & BIDI and "\x0b" not in page and "@SUM(1,2) Tuyên truyền" in page
    assert not [line for line in files["csv"].decode("utf-8").splitlines()
                if line.startswith(("=", "+", "@"))]


def _kafka_cases(envelope: dict[str, Any]) -> list[tuple[str, bytes, str, str]]:
    """(name, record value, dead letter's reason, the field it names) for each input the
    HTTP parser refuses, written into the data of a submission request event. A value
    past a bound of the contract (an indicator's maximum) is refused by the record loop's
    schema check first (`schema-violation`); what the schema lets through (NaN compares
    false with every bound, a lone surrogate is a string, `2028.0` an integer to JSON
    Schema) by the intake's own check, as on HTTP."""
    text = json.dumps(envelope)
    nested: list[Any] = []
    for _ in range(40):
        nested = [nested]
    indicator = "contents/implement_directives/indicators/plans_issued"
    return [
        ("NaN", text.replace('"plans_issued": 3', '"plans_issued": NaN').encode(),
         "unsupported-json", indicator),
        ("-Infinity", text.replace('"plans_issued": 3', '"plans_issued": -Infinity').encode(),
         "schema-violation", indicator),
        ("Infinity", text.replace('"plans_issued": 3', '"plans_issued": Infinity').encode(),
         "schema-violation", indicator),
        ("1e999", text.replace('"plans_issued": 3', '"plans_issued": 1e999').encode(),
         "schema-violation", indicator),
        ("a lone surrogate", text.replace('"self_assessment"', '"notes": "x\\udc00", '
                                          '"self_assessment"').encode(),
         "unsupported-json", "notes"),
        ("an integer beyond 64 bits", text.replace('"plans_issued": 3', '"plans_issued": '
                                                   + "9" * 25).encode(),
         "schema-violation", indicator),
        ("a non-integral period", text.replace(f'"period": {PERIOD}',
                                               f'"period": {PERIOD}.0').encode(),
         "invalid-submission", "period"),
        ("nesting past the bound", json.dumps(
            {**envelope, "data": dict(envelope["data"], flags_held=nested)}).encode(),
         "bad-envelope", ""),
    ]


def test_the_kafka_way_in_refuses_what_http_refuses(clock: Stack, example_request: dict
                                                    ) -> None:
    """Each hostile request on `emulation.submission-requests.v1` is dead-lettered with
    its reason and nothing of it is stored; the good request behind them (same key, same
    partition) is stored, so every hostile one was consumed before it."""
    clock.set_clock(IN_2028, ("submissions",))
    unit = "police:cao-bang"
    good = request_for(example_request, unit, PERIOD)
    assert '"plans_issued": 3' in json.dumps(good)  # the cases replace this text

    def envelope(event_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"specversion": "1.0", "id": event_id, "source": "urn:test:producer",
                "type": "vn.emulation.submission.requested", "subject": unit,
                "time": "2028-11-20T02:00:00+00:00",
                "dataschema": "urn:emulation:schema:submission-requested:v1",
                "datacontenttype": "application/json", "data": data}

    run = uuid.uuid4().hex[:8]
    cases = {f"h16-{run}-{i}": case for i, case in enumerate(
        _kafka_cases(envelope("ID", good)))}
    producer = clock.producer()
    try:
        # Each signed with the unit's key (ADR 0008): refused for its content, not its proof.
        for event_id, (_, value, _, _) in cases.items():
            value = value.replace(b'"id": "ID"', f'"id": "{event_id}"'.encode())
            producer.send("emulation.submission-requests.v1", key=unit.encode(),
                          value=value, headers=clock.proof(unit, value))
        value = json.dumps(envelope(f"h16-{run}-good", good)).encode()
        producer.send("emulation.submission-requests.v1", key=unit.encode(), value=value,
                      headers=clock.proof(unit, value))
        producer.flush()
    finally:
        producer.close()
    stored = wait_for("the good request to be stored", lambda: revisions(clock, unit, PERIOD),
                      timeout=60)
    assert [(r["revision"], r["content"]) for r in stored] == [(1, good)]

    def letter_of(value: dict[str, Any]) -> str | None:
        raw = str((value.get("data") or {}).get("value") or "")
        return next((eid for eid in cases if f'"{eid}"' in raw), None)

    letters = clock.read_topic("emulation.submission-requests.dlq.v1",
                               lambda v: letter_of(v) is not None, timeout=60,
                               count=len(cases))
    by_id = {letter_of(v): v["data"] for v in letters}
    assert set(by_id) == set(cases), sorted(set(cases) - set(by_id))
    got = {cases[e][0]: (v["reason"], v["detail"][:200]) for e, v in by_id.items()}
    for event_id, (name, _, reason, field) in cases.items():
        letter = by_id[event_id]
        assert letter["reason"] == reason, (name, got)
        if field:  # named in the errors (the intake) or the detail (the schema check)
            named = [e.get("field", "") for e in letter.get("errors") or []]
            assert any(f.startswith(field) for f in named) or (
                f"data/{field}:" in letter["detail"]), (name, letter)
    assert len(revisions(clock, unit, PERIOD)) == 1  # nothing else came in meanwhile
