"""Criterion group 5 in the reports people read (issue 14, point 4): the national
synthesis of `toan-dan` shows its individuals' records in the PDF, the HTML page and the
workbook (counts by person group and by reporting unit, never a person's id); with none,
it says so (a zero is an answer: the plan has a criterion group for people, and a report
that left the part out could not be told from one that forgot it); `vi-an-ninh`, whose
units report no people, leaves the part out."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from openpyxl import load_workbook

from services.reporting.domain import national_report
from services.reporting.labels import INDIVIDUALS_HEADING, NO_INDIVIDUALS
from services.reporting.render import html, pdf, xlsx
from tests.unit.english_text import english_runs
from tests.unit.render_support import FONTS, needs_font, pdf_text
from tests.unit.reporting_samples import AS_OF, PERIOD, accepted, report_doc, sample_state
from tests.unit.reporting_samples import score as score_doc

# Two units of toan-dan report five people: 5a twice, 5b three times; one late, one
# not yet scored.
PEOPLE = (("individual:province-ha-noi-hn0001", "I1", True),
          ("individual:province-ha-noi-hn0002", "I2", True),
          ("individual:province-ha-noi-hn0003", "I2", False),
          ("individual:ministry-public-security-bca001", "I1", True),
          ("individual:ministry-public-security-bca002", "I2", True))
GROUP_5A = "5a. Cán bộ, chiến sĩ, công nhân viên lực lượng vũ trang"
GROUP_5B = "5b. Các đối tượng khác"


def national(movement: str = "toan-dan", people: tuple[tuple[str, str, bool], ...] = PEOPLE
             ) -> dict[str, Any]:
    s = sample_state()
    reports, scores = dict(s["reports"]), dict(s["scores"])
    for unit_id, criterion, on_time in people:
        data = accepted(unit_id, on_time=on_time)
        data["content"]["self_assessment"] = {criterion: {"rating": 8}}
        reports[unit_id] = report_doc(data)
        if not unit_id.endswith("bca002"):
            scores[unit_id] = score_doc(unit_id, 80.0)
    return national_report(period=PERIOD, as_of=AS_OF, units=s["units"],
                           clusters=s["clusters"], reports=reports, scores=scores,
                           reminders=s["reminders"], movement=movement)


def section(text: str) -> str:
    """The individuals' part of a report's text: from its heading to the next part."""
    start = text.index(INDIVIDUALS_HEADING)
    end = text.index("II. Kết quả thực hiện sáu nội dung", start)
    return " ".join(text[start:end].split())


def no_person_id(text: str) -> None:
    assert "individual:" not in text
    for unit_id, _, _ in PEOPLE:
        assert unit_id.rsplit("-", 1)[1] not in text, unit_id


def test_the_synthesis_counts_what_the_renderings_show() -> None:
    people = national()["individuals"]
    assert (people["submitted"], people["on_time"], people["scored"]) == (5, 4, 4)
    assert people["by_group"] == {"5a": 2, "5b": 3}
    assert people["by_unit"] == {"ministry:public-security": 2, "province:ha-noi": 3}


@needs_font
def test_the_pdf_shows_the_individuals_by_group_and_unit() -> None:
    text = pdf_text(pdf.national_pdf(national(), FONTS))
    part = section(text)
    for expected in ("Số hồ sơ đã báo cáo: 5, trong đó đúng hạn: 4; đã chấm điểm: 4.",
                     "không nêu tên người", f"{GROUP_5A} 2", f"{GROUP_5B} 3",
                     "Thành phố Hà Nội 3", "Bộ Công an 2"):
        assert expected in part, (expected, part)
    assert part.index("Thành phố Hà Nội") < part.index("Bộ Công an")  # most records first
    assert NO_INDIVIDUALS not in part
    no_person_id(text)
    assert not english_runs(text), english_runs(text)[:5]


@needs_font
def test_the_pdf_says_when_no_individual_was_reported() -> None:
    text = pdf_text(pdf.national_pdf(national(people=()), FONTS))
    assert section(text) == f"{INDIVIDUALS_HEADING} {NO_INDIVIDUALS}"
    assert not english_runs(text), english_runs(text)[:5]


@needs_font
def test_the_police_movements_pdf_has_no_individuals_part() -> None:
    text = pdf_text(pdf.national_pdf(national("vi-an-ninh"), FONTS))
    assert INDIVIDUALS_HEADING not in text and NO_INDIVIDUALS not in text
    assert "I. Tình hình báo cáo" in text


def _html_section(page: str) -> str:
    shown = re.sub(r"<[^>]+>", " ", page.split("</style>")[1])
    return section(shown)


def test_the_html_page_shows_the_individuals_by_group_and_unit() -> None:
    page = html.national_html(national()).decode("utf-8")
    assert '<h3 id="individuals">Cá nhân (nhóm tiêu chí 5)</h3>' in page
    part = _html_section(page)
    for expected in ("Số hồ sơ đã báo cáo: 5, trong đó đúng hạn: 4; đã chấm điểm: 4.",
                     f"{GROUP_5A} 2", f"{GROUP_5B} 3", "Thành phố Hà Nội 3", "Bộ Công an 2"):
        assert expected in part, (expected, part)
    no_person_id(page)
    assert not english_runs(part), english_runs(part)


def test_the_html_page_says_when_no_individual_was_reported() -> None:
    page = html.national_html(national(people=())).decode("utf-8")
    assert _html_section(page) == f"{INDIVIDUALS_HEADING} {NO_INDIVIDUALS}"
    police = html.national_html(national("vi-an-ninh")).decode("utf-8")
    assert INDIVIDUALS_HEADING not in police and 'id="individuals"' not in police


def _sheet_rows(report: dict[str, Any]) -> list[tuple[Any, ...]] | None:
    wb = load_workbook(io.BytesIO(xlsx.national_xlsx(report)))
    if "Cá nhân" not in wb.sheetnames:
        return None
    assert wb.sheetnames.index("Cá nhân") == wb.sheetnames.index("Theo cụm thi đua") + 1
    return list(wb["Cá nhân"].iter_rows(values_only=True))


def test_the_workbook_has_a_sheet_of_individuals_with_numbers() -> None:
    rows = _sheet_rows(national())
    assert rows is not None
    assert rows[0] == ("Phân loại", "Mã", "Tên", "Số hồ sơ")
    assert rows[1:8] == [
        ("Tổng số", None, "Số hồ sơ đã báo cáo", 5), ("Tổng số", None, "Đúng hạn", 4),
        ("Tổng số", None, "Đã chấm điểm", 4), ("Nhóm đối tượng", "5a", GROUP_5A, 2),
        ("Nhóm đối tượng", "5b", GROUP_5B, 3),
        ("Đơn vị báo cáo", "province:ha-noi", "Thành phố Hà Nội", 3),
        ("Đơn vị báo cáo", "ministry:public-security", "Bộ Công an", 2)]
    no_person_id(repr(rows))


def test_the_workbook_says_when_no_individual_was_reported() -> None:
    rows = _sheet_rows(national(people=()))
    assert rows is not None
    assert [r[3] for r in rows[1:6]] == [0, 0, 0, 0, 0]
    assert not [r for r in rows if r[0] == "Đơn vị báo cáo"]
    assert (None, None, NO_INDIVIDUALS, None) in rows
    assert _sheet_rows(national("vi-an-ninh")) is None


@pytest.mark.parametrize("people", [PEOPLE, ()])
def test_a_sponsor_missing_from_the_registry_is_shown_by_its_unit_id(
        people: tuple[tuple[str, str, bool], ...]) -> None:
    """A unit no longer in the year's registry still answers for its people's records:
    shown by its own id (a unit's, never a person's)."""
    extra = (*people, ("individual:province-quang-ninh-qn0001", "I2", True))
    page = html.national_html(national(people=extra)).decode("utf-8")
    assert "province:quang-ninh" in _html_section(page)
    assert "qn0001" not in page
