"""The national synthesis as a workbook (openpyxl): one sheet per part, numbers kept as
numbers (rates formatted as percentages) so the ministries can compute with them."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from services.reporting.labels import (
    DEADLINE_READING,
    DEFAULT_SCALE_NOTE,
    INDIVIDUALS_NOTE,
    NO_INDIVIDUALS,
    REMINDER_STATUS,
    indicator_label,
    movement_title,
    unit_type_label,
)
from services.reporting.models import Counts, NationalReport
from services.reporting.phrases import reason_vi
from services.reporting.render.text import (
    as_of_line,
    individual_counts,
    individual_groups,
    individual_units,
    individuals_submitted,
    is_formula_like,
    local_time,
    nfc,
    shows_individuals,
)

RATE_COLUMNS = ("Tỷ lệ đầy đủ", "Tỷ lệ đúng hạn")
COUNT_HEAD = ["Dự kiến", "Đã báo cáo", "Đúng hạn", "Muộn", *RATE_COLUMNS]


def _counts(c: Counts) -> list[Any]:
    return [c["expected"], c["submitted"], c["on_time"], c["late"], c["completeness"],
            c["timeliness"]]


def _sheet(wb: Workbook, title: str, head: list[str], rows: Iterable[list[Any]],
           widths: dict[int, int] | None = None) -> Worksheet:
    ws = wb.create_sheet(title)
    ws.append(head)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        ws.append([nfc(v) if isinstance(v, str) else v for v in row])
    for idx, name in enumerate(head, start=1):
        letter = get_column_letter(idx)
        ws.column_dimensions[letter].width = (widths or {}).get(idx, max(12, len(name) + 2))
        if name in RATE_COLUMNS:
            for cell in ws[letter][1:]:
                cell.number_format = "0.0%"
    ws.freeze_panes = "A2"
    return ws


def _as_text(cells: Iterable[Cell | MergedCell]) -> None:
    """Strings stay strings: openpyxl writes one that starts with '=' as a formula, and a
    spreadsheet reads '+', '-' and '@' the same way (OWASP, CSV injection). Such a cell
    is a string with Excel's quote prefix: it shows the text, never computes it."""
    for cell in cells:
        if isinstance(cell, Cell) and isinstance(cell.value, str) \
                and is_formula_like(cell.value):
            cell.data_type = "s"
            cell.quotePrefix = True


def _individuals(wb: Workbook, report: NationalReport) -> None:
    """Criterion group 5: counts of the people's records, by person group and by the unit
    that reported them (unit ids, never a person's)."""
    rows: list[list[Any]] = [
        *(["Tổng số", None, label, n] for label, n in individual_counts(report)),
        *(["Nhóm đối tượng", g, label, n] for g, label, n in individual_groups(report)),
        *(["Đơn vị báo cáo", uid, name, n] for uid, name, n in individual_units(report)),
        [], [None, None, INDIVIDUALS_NOTE if individuals_submitted(report)
             else NO_INDIVIDUALS]]
    _sheet(wb, "Cá nhân", ["Phân loại", "Mã", "Tên", "Số hồ sơ"], rows, {1: 18, 2: 28, 3: 60})


def national_xlsx(report: NationalReport) -> bytes:
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = "Tổng hợp"
    summary.append([nfc(f"Báo cáo tổng hợp phong trào {movement_title(report)} năm "
                        f"{report['period']}")])
    summary["A1"].font = Font(bold=True, size=14)
    summary.append([nfc(as_of_line(report))])
    summary.append(["Hạn báo cáo của các đơn vị", local_time(report["deadline"]),
                    nfc(DEADLINE_READING)])
    summary.append(["Thang điểm", nfc(DEFAULT_SCALE_NOTE)])
    summary.append([])
    for label, value, rate in (
            ("Đơn vị dự kiến", report["expected"], False),
            ("Đã báo cáo", report["submitted"], False), ("Đúng hạn", report["on_time"], False),
            ("Muộn", report["late"], False), ("Tỷ lệ đầy đủ", report["completeness"], True),
            ("Tỷ lệ đúng hạn", report["timeliness"], True),
            ("Đã chấm điểm", report["scored"], False),
            ("Nhắc nhở đã gửi", report["reminders_sent"], False)):
        summary.append([label, value])
        if rate:
            summary.cell(summary.max_row, 2).number_format = "0.0%"
    summary.column_dimensions["A"].width = 28
    summary.column_dimensions["B"].width = 18

    _sheet(wb, "Theo loại đơn vị", ["Loại", "Mã", *COUNT_HEAD],
           ([unit_type_label(t), t, *_counts(c)] for t, c in report["by_type"].items()),
           {1: 48})
    _sheet(wb, "Theo cụm thi đua", ["Cụm", "Mã", *COUNT_HEAD],
           ([c["name"], cid, *_counts(c)] for cid, c in report["by_cluster"].items()),
           {1: 24, 2: 16})
    if shows_individuals(report):
        _individuals(wb, report)
    _sheet(wb, "Đơn vị", ["Mã", "Tên", "Loại", "Cụm", "Đã báo cáo", "Nhận lần đầu",
                          "Đúng hạn", "Lần sửa", "Điểm", "Tối đa"],
           ([u["unit_id"], u["name"], u["type"], u["cluster_id"], u["submitted"],
             local_time(u["first_received_at"]) if u["first_received_at"] else None,
             u["on_time"], u["revision"], u["score"], u["max"]] for u in report["units"]),
           {1: 32, 2: 44, 6: 18})
    content_rows = []
    for key, c in report["contents"].items():
        content_rows.append([c["title"], key, c["units_reported"], None, None])
        content_rows += [[None, None, None, indicator_label(name), value]
                         for name, value in c["indicators"].items()]
    _sheet(wb, "Sáu nội dung", ["Nội dung", "Mã", "Số đơn vị báo cáo", "Chỉ tiêu", "Tổng"],
           content_rows, {1: 60, 2: 22, 4: 28})
    _sheet(wb, "Điển hình", ["Nội dung", "Đơn vị", "Kết quả"],
           ([c["title"], e["name"], e["summary"]] for c in report["contents"].values()
            for e in c["examples"]), {1: 50, 2: 36, 3: 100})
    s = report["scores"]
    _sheet(wb, "Phân bố điểm", ["Khoảng (% điểm tối đa)", "Số đơn vị"],
           [*([f"{b['from']}–{b['to']}", b["count"]] for b in s["histogram"]), [],
            ["Số đơn vị có điểm", s["count"]], ["Trung bình", s["mean"]],
            ["Trung vị", s["median"]], ["Thấp nhất", s["min"]], ["Cao nhất", s["max"]],
            ["Điểm tối đa", s["max_possible"]]], {1: 26})
    held = report.get("proposals")
    proposals = held["items"] if held else []
    _sheet(wb, "Đề nghị khen thưởng", ["Đơn vị", "Mã", "Cụm", "Hình thức", "Lý do"],
           ([p["name"], p["unit_id"], p.get("cluster_id"), p["award_label"],
             reason_vi(p["reason"])]
            for p in proposals), {1: 40, 2: 28, 4: 30, 5: 80})
    missing_rows = []
    for m in report["missing_units"]:
        base = [m["name"], m["unit_id"], m["type"], m["cluster_id"]]
        if not m["reminders"]:
            missing_rows.append([*base, None, None, None, None, None])
        missing_rows += [[*base, r["stage"], r["channel"], r["recipient"],
                          REMINDER_STATUS.get(str(r["status"]), r["status"]),
                          local_time(r["sent_at"]) if r["sent_at"] else None]
                         for r in m["reminders"]]
    _sheet(wb, "Chưa báo cáo", ["Đơn vị", "Mã", "Loại", "Cụm", "Đợt nhắc", "Kênh",
                                "Người nhận", "Trạng thái", "Gửi lúc"], missing_rows,
           {1: 40, 2: 30, 7: 30, 9: 18})
    for ws in wb.worksheets:
        for cells in ws.iter_rows():
            _as_text(cells)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
