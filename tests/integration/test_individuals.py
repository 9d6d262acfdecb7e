"""Individuals on the real stack (issue 14, point 4): a unit submits a person's record
under a pseudonymous id; it is accepted, scored under exactly one of 5a/5b, kept out of
the cluster standings and counted in the toan-dan synthesis (docs/submissions.md,
"Individuals")."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import load_workbook

from services.common import schemas
from tests.conftest import request_for
from tests.stackfixture import Stack, unique_key, wait_for
from tests.unit.render_support import pdf_text

pytestmark = pytest.mark.integration
PERIOD = 2098  # no other test uses 2098
UNIT = "province:quang-ninh"
PERSON = f"individual:province-quang-ninh-p{PERIOD}b"  # a person of group 5b


def person(example: dict[str, Any], *criteria: str, unit_id: str = PERSON) -> dict[str, Any]:
    body = request_for(example, unit_id, PERIOD)
    body["self_assessment"] = {c: {"rating": 8} for c in criteria}
    return body


def post(stack: Stack, token_of: str, body: dict[str, Any]) -> Any:
    with stack.client("submissions", stack.token(token_of)) as c:
        return c.post("/v1/submissions", json=body, headers={"Idempotency-Key": unique_key()})


def test_a_persons_record_is_accepted_scored_in_one_group_and_counted(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack = clock
    stack.set_clock(f"{PERIOD}-11-20T09:00:00+07:00")

    # Both groups, neither, another unit's person: refused, nothing stored.
    both = post(stack, UNIT, person(example_request, "I1", "I2"))
    assert both.status_code == 422, both.text
    assert both.json()["type"] == "urn:emulation:problem:invalid-person-record"
    assert both.json()["errors"][0]["field"] == "self_assessment"
    neither = post(stack, UNIT, person(example_request))
    assert neither.status_code == 422
    assert neither.json()["type"] == "urn:emulation:problem:invalid-person-record"
    assert post(stack, "province:ha-noi", person(example_request, "I2")).status_code == 403

    accepted = post(stack, UNIT, person(example_request, "I2"))
    assert accepted.status_code == 202, accepted.text
    receipt = accepted.json()
    assert (receipt["unit_id"], receipt["revision"], receipt["on_time"]) == (PERSON, 1, True)
    with stack.client("submissions", stack.token(UNIT)) as c:
        listed = c.get(f"/v1/units/{PERSON}/submissions", params={"period": PERIOD})
    assert listed.status_code == 200 and [s["revision"] for s in listed.json()] == [1]
    with stack.client("submissions", stack.token("province:ha-noi")) as c:
        # Another unit: "not yours" is "absent" (ids are not probed), and 403 by unit.
        assert c.get(f"/v1/submissions/{receipt['submission_id']}").status_code == 404
        assert c.get(f"/v1/units/{PERSON}/submissions").status_code == 403

    # Scored on 5b's criterion (I2) alone, read by the unit that reported the person.
    with stack.client("scoring", stack.token(UNIT)) as c:
        score = wait_for("the person's score", lambda: (
            r := c.get(f"/v1/scores/{PERSON}", params={"period": PERIOD})).status_code == 200
            and r.json())
    criteria = {line["criterion"] for line in score["breakdown"]}
    assert "I2" in criteria and "I1" not in criteria
    assert score["max"] == 100 and score["rubric_version"] == "individual-2024.1"
    assert score["submission_id"] == receipt["submission_id"]
    event = stack.read_topic("emulation.scores.v1", lambda e: e.get("subject") == PERSON
                             and (e.get("data") or {}).get("period") == PERIOD)[0]
    event.pop("_headers")
    assert schemas.errors("score-computed.v2", event) == []

    with stack.as_operator("scoring") as c:
        standings = c.get("/v1/clusters/mps-cluster-4/standings", params={"period": PERIOD})
    assert standings.status_code == 200, standings.text
    assert PERSON not in {row["unit_id"] for row in standings.json()["standings"]}

    # Counted in the toan-dan synthesis, apart from the registry's units; not in vi-an-ninh.
    with stack.as_operator("reporting") as c:
        national = wait_for("the synthesis to count the person", lambda: (
            rep := c.get("/v1/reports/national", params={"period": PERIOD}).json())
            and rep["individuals"]["scored"] >= 1 and rep)
        police = c.get("/v1/reports/national",
                       params={"period": PERIOD, "movement": "vi-an-ninh"}).json()
        csv_text = c.get("/v1/reports/national",
                         params={"period": PERIOD, "format": "csv"}).text
        files = {fmt: c.get("/v1/reports/national", params={"period": PERIOD, "format": fmt})
                 for fmt in ("pdf", "xlsx")}
    people = national["individuals"]
    assert people["submitted"] == 1 and people["on_time"] == 1
    assert people["by_group"] == {"5a": 0, "5b": 1}
    assert people["by_unit"] == {UNIT: 1}
    assert PERSON not in national["missing"] and "individual" not in national["by_type"]
    assert police["individuals"]["submitted"] == 0
    assert "individuals,5b,,1," in csv_text.replace("\r\n", "\n")

    # The reports people read show the same counts, by group and by unit name, no person's
    # id (services/reporting/render: "Cá nhân (nhóm tiêu chí 5)").
    assert all(r.status_code == 200 for r in files.values()), files
    name = next(u["name"] for u in national["units"] if u["unit_id"] == UNIT)
    text = " ".join(pdf_text(files["pdf"].content).split())
    part = text[text.index("Cá nhân (nhóm tiêu chí 5)"):text.index("II. Kết quả")]
    assert "Số hồ sơ đã báo cáo: 1, trong đó đúng hạn: 1; đã chấm điểm: 1." in part, part
    assert "5b. Các đối tượng khác 1" in part and f"{name} 1" in part, part
    assert PERSON.rsplit("-", 1)[1] not in text
    sheet = load_workbook(io.BytesIO(files["xlsx"].content))["Cá nhân"]
    rows = list(sheet.iter_rows(values_only=True))
    assert ("Nhóm đối tượng", "5b", "5b. Các đối tượng khác", 1) in rows
    assert ("Đơn vị báo cáo", UNIT, name, 1) in rows
    assert PERSON not in repr(rows)
