"""Exports of a season whose units wrote what a spreadsheet takes for a formula, control
characters (Word's line breaks) and bidirectional overrides: every format renders, the
XLSX has no formula cell and keeps the text, the CSV cells read as text, and the HTML
and PDF carry no mark that would reorder the text around it."""

from __future__ import annotations

import copy
import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook

from services.reporting.render import html, pdf, tables, xlsx
from services.reporting.render.text import BIDI_CONTROLS, nfc
from tests.unit.render_support import FONTS, needs_font, pdf_text
from tests.unit.reporting_samples import cluster, national

HOSTILE = [
    "=HYPERLINK(\"http://evil.example\",\"bấm vào đây\")",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
    "\tTab đầu dòng",
    "Dòng một\x0bdòng hai\x0cdòng ba",
    "Nhân rộng \u202emô hình\u202c tự quản\x00\x07\x1b",
    "\u2066Tổ dân phố\u2069 \u202dan toàn\u202c",
    "\u202e=1+1",
]


def hostile_national() -> dict[str, Any]:
    report = copy.deepcopy(national())
    texts = iter(HOSTILE * 10)
    for content in report["contents"].values():
        for example in content["examples"]:
            example["summary"] = next(texts)
        content["examples"].append({"name": next(texts), "summary": next(texts)})
    for unit in report["units"] + report["missing_units"]:
        unit["name"] = next(texts)
    for item in (report.get("proposals") or {}).get("items", []):
        item["reason"] = next(texts)
    return report


def hostile_cluster() -> dict[str, Any]:
    report = copy.deepcopy(cluster())
    texts = iter(HOSTILE * 10)
    for row in report["standings"] + report["missing_units"] + report["members"]:
        if "name" in row:
            row["name"] = next(texts)
    report["name"] = next(texts)
    return report


def test_nfc_keeps_the_words_and_drops_what_no_format_holds() -> None:
    assert nfc("Dòng một\x0bdòng hai") == "Dòng một\ndòng hai"
    assert nfc("a\u202eb\u2066c\u2069\x00\x1b\ud800") == "abc"
    assert nfc("\tx\r\ny") == "\tx\r\ny"  # tabs and ordinary line ends stay


def test_xlsx_has_no_formula_and_keeps_the_text() -> None:
    wb = load_workbook(io.BytesIO(xlsx.national_xlsx(hostile_national())))
    strings = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    strings.append(cell.value)
                    assert not set(cell.value) & set(BIDI_CONTROLS + "\x00\x07\x0b\x1b")
                    if cell.value[:1] in "=+-@":
                        assert cell.quotePrefix, (ws.title, cell.coordinate)
    for text in ("=HYPERLINK(\"http://evil.example\",\"bấm vào đây\")", "@SUM(1,2)",
                 "+1+cmd|' /C calc'!A0", "Dòng một\ndòng hai\ndòng ba", "=1+1",
                 "Nhân rộng mô hình tự quản"):
        assert text in strings, text


def test_csv_cells_read_as_text() -> None:
    for data in (tables.national_csv(hostile_national()), tables.cluster_csv(hostile_cluster())):
        for row in csv.reader(io.StringIO(data.decode("utf-8"))):
            for value in row:
                assert not value.startswith(("=", "+", "@", "\t", "\r")), value
                assert not (value.startswith("-") and not _number(value)), value
                assert not set(value) & set(BIDI_CONTROLS)
    names = [r[2] for r in csv.reader(io.StringIO(
        tables.cluster_csv(hostile_cluster()).decode("utf-8")))]
    assert "'=HYPERLINK(\"http://evil.example\",\"bấm vào đây\")" in names


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def test_html_has_no_bidi_controls_and_isolates_cells() -> None:
    for page in (html.national_html(hostile_national()), html.cluster_html(hostile_cluster())):
        text = page.decode("utf-8")
        assert not set(text) & set(BIDI_CONTROLS + "\x00\x07\x0b\x1b")
        assert "unicode-bidi:plaintext" in text
    assert "Nhân rộng mô hình tự quản" in html.national_html(hostile_national()).decode()


@needs_font
@pytest.mark.parametrize("render", ["national", "cluster"])
def test_pdf_renders_without_override_marks(render: str) -> None:
    data = (pdf.national_pdf(hostile_national(), FONTS) if render == "national"
            else pdf.cluster_pdf(hostile_cluster(), FONTS))
    text = pdf_text(data)
    assert not set(text) & set(BIDI_CONTROLS)
    assert "Tổ dân phố an toàn" in text.replace("\n", " ")
    if render == "national":
        assert "Nhân rộng mô hình tự quản" in text.replace("\n", " ")
        assert "=1+1" in text.replace("\n", " ")
