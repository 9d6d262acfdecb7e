"""The reports' files open in the programs people use, with the Vietnamese intact."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from services.reporting.render import html, pdf, tables, xlsx
from services.reporting.render.text import local_time, number, percent
from tests.unit.render_support import FONTS, needs_font, pdf_text
from tests.unit.reporting_samples import (
    AS_OF,
    cluster,
    national,
)


@needs_font
def test_national_pdf_has_the_vietnamese_names_and_says_when() -> None:
    text = pdf_text(pdf.national_pdf(national(), FONTS))
    for expected in ("BÁO CÁO TỔNG HỢP", "Công an tỉnh Phú Thọ", "Công an tỉnh Quảng Ninh",
                     "Thành phố Hà Nội", "Cụm thi đua số 4", "Cờ thi đua của Chính phủ",
                     "Đơn vị chưa báo cáo", f"lập báo cáo {local_time(AS_OF)}",
                     "số mô hình được nhân rộng", "thang điểm mặc định của hệ thống"):
        assert expected in text, expected
    assert "60,0 %" in text  # completeness, written the Vietnamese way


@needs_font
def test_cluster_pdf_has_standings_breakdowns_and_the_missing() -> None:
    text = pdf_text(pdf.cluster_pdf(cluster(), FONTS))
    for expected in ("BÁO CÁO TỔNG KẾT NĂM 2026", "CỤM THI ĐUA SỐ 4", "Bảng xếp hạng",
                     "Công an tỉnh Phú Thọ — 88,5/100 điểm", "tự đánh giá 9/10",
                     "Công an tỉnh Quảng Ninh", "Chưa có gợi ý, chưa ghi nhận kết quả bầu.",
                     "Chưa ghi nhận biên bản hội nghị cụm."):
        assert expected in text, expected


def test_a_missing_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(pdf.FontMissing, match="fonts-dejavu-core"):
        pdf.national_pdf(national(), tmp_path)


def test_national_xlsx_opens_with_a_sheet_per_part() -> None:
    wb = load_workbook(io.BytesIO(xlsx.national_xlsx(national())))
    assert wb.sheetnames == ["Tổng hợp", "Theo loại đơn vị", "Theo cụm thi đua", "Cá nhân",
                             "Đơn vị", "Sáu nội dung", "Điển hình", "Phân bố điểm",
                             "Đề nghị khen thưởng", "Chưa báo cáo"]
    summary = {row[0]: row[1] for row in wb["Tổng hợp"].iter_rows(values_only=True) if row}
    assert summary["Đơn vị dự kiến"] == 5 and summary["Đã báo cáo"] == 3
    assert summary["Tỷ lệ đầy đủ"] == 0.6
    names = [row[1] for row in wb["Đơn vị"].iter_rows(min_row=2, values_only=True)]
    assert "Công an tỉnh Phú Thọ" in names
    missing = list(wb["Chưa báo cáo"].iter_rows(min_row=2, values_only=True))
    assert [r[5] for r in missing if r[1] == "police:quang-ninh"] == ["email", "sms"]
    assert wb["Theo cụm thi đua"]["G2"].number_format == "0.0%"


def test_html_is_escaped_printable_and_says_when() -> None:
    page = html.national_html(national()).decode("utf-8")
    assert page.startswith("<!doctype html>") and 'lang="vi"' in page
    assert "&lt;nhân rộng&gt;" in page and "<nhân rộng>" not in page
    assert f'data-as-of="{AS_OF.isoformat()}"' in page
    assert "@media print" in page and "<script" not in page
    assert "Công an tỉnh Quảng Ninh" in html.cluster_html(cluster()).decode("utf-8")


def test_csv_tables() -> None:
    rows = list(csv.reader(io.StringIO(tables.national_csv(national()).decode("utf-8"))))
    assert rows[0][:3] == ["scope", "name", "expected"]
    assert rows[1][:4] == ["national", "2026", "5", "3"]
    crow = list(csv.reader(io.StringIO(tables.cluster_csv(cluster()).decode("utf-8"))))
    assert crow[1][:3] == ["1", "police:phu-tho", "Công an tỉnh Phú Thọ"]
    assert crow[1][8] == "P1: 88.5/100.0"


def test_vietnamese_number_formats() -> None:
    assert number(1234567) == "1.234.567"
    assert number(1234.5) == "1.234,5"
    assert number(None) == "–"
    assert percent(0.6667) == "66,7 %"
    assert local_time("2026-11-30T16:59:59+00:00") == "30/11/2026 23:59"
