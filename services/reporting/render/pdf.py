"""The reports as PDF documents a ministry can send (fpdf2), with a TrueType font that
has the Vietnamese glyphs (DejaVu Sans) embedded, so every diacritic prints and the
text can be searched and copied."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from fpdf import FPDF
from fpdf.fonts import FontFace

from services.reporting.labels import (
    DEADLINE_READING,
    DEFAULT_SCALE_NOTE,
    REMINDER_STATUS,
    addressee,
    movement_title,
    unit_type_label,
)
from services.reporting.models import (
    ClusterReport,
    MissingUnit,
    NationalReport,
    ReminderRow,
)
from services.reporting.phrases import explanation_vi, line_label, reason_vi, tie_break_vi
from services.reporting.render.text import (
    NO_CONFERENCE,
    SUGGESTIONS_HEADING,
    as_of_line,
    conference_line,
    count_cells,
    indicator_label,
    individuals_part,
    local_time,
    nfc,
    number,
    shows_individuals,
    yes_no,
)

FONT = "DejaVu"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
HEADINGS = FontFace(emphasis="BOLD", fill_color=(225, 232, 240))


T = TypeVar("T")


class FontMissing(RuntimeError):
    """The PDF font is not installed (Debian: fonts-dejavu-core)."""


class ReportPDF(FPDF):
    def __init__(self, font_dir: Path, title: str, footer_note: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        for style, name in FONT_FILES.items():
            path = font_dir / name
            if not path.is_file():
                raise FontMissing(f"{path} is missing: install the DejaVu fonts "
                                  "(Debian package fonts-dejavu-core) or set "
                                  "EMULATION_PDF_FONT_DIR")
            self.add_font(FONT, style, str(path))
        self.footer_note = nfc(footer_note)
        self.set_title(nfc(title))
        self.set_author("Emulation platform - reporting service")
        self.set_auto_page_break(auto=True, margin=16)
        self.set_margins(16, 14, 16)
        self.add_page()

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "I", 7)
        self.set_text_color(100)
        self.cell(0, 5, f"{self.footer_note} · Trang {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)

    def title_block(self, lines: Sequence[str], note: str) -> None:
        for n, line in enumerate(lines):
            self.set_font(FONT, "B", 14 if n == 0 else 12)
            self.multi_cell(0, 7, nfc(line), align="C", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)
        self.set_font(FONT, "I", 9)
        self.multi_cell(0, 5, nfc(note), align="C", new_x="LMARGIN", new_y="NEXT")
        self.ln(3)

    def heading(self, text: str) -> None:
        if self.get_y() > self.h - 40:
            self.add_page()
        self.ln(2)
        self.set_font(FONT, "B", 12)
        self.multi_cell(0, 7, nfc(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, "", 9)

    def subheading(self, text: str) -> None:
        self.ln(1)
        self.set_font(FONT, "B", 10)
        self.multi_cell(0, 6, nfc(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, "", 9)

    def section(self, title: str, content: T | None, absent: str) -> T | None:
        """A section's heading and, when it has no content, the note saying so; the
        content, if any, for the caller to write."""
        self.heading(title)
        if content is None:
            self.para(absent, style="I")
        return content

    def para(self, text: str, size: float = 9, style: str = "") -> None:
        self.set_font(FONT, style, size)
        self.multi_cell(0, 4.8, nfc(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, "", 9)

    def grid(self, head: Sequence[str], rows: Sequence[Sequence[Any]],
             widths: Sequence[float], align: Sequence[str] | None = None,
             size: float = 8.5) -> None:
        """A table with a heading row repeated on each page."""
        if not rows:
            self.para("(không có)", style="I")
            return
        self.set_font(FONT, "", size)
        with self.table(col_widths=tuple(widths), headings_style=HEADINGS, line_height=4.6,
                        text_align=tuple(align or ["LEFT"] * len(head)),
                        first_row_as_headings=True) as table:
            heading = table.row()
            for h in head:
                heading.cell(nfc(h))
            for row in rows:
                line = table.row()
                for value in row:
                    line.cell(nfc(value))
        self.ln(2)
        self.set_font(FONT, "", 9)

    def bars(self, items: Sequence[tuple[str, int]]) -> None:
        """A small horizontal bar chart (the score histogram)."""
        top = max((n for _, n in items), default=0) or 1
        self.set_font(FONT, "", 8)
        for label, n in items:
            y = self.get_y()
            self.cell(28, 5, nfc(label))
            self.set_fill_color(70, 110, 160)
            width = 110 * n / top
            if width > 0:
                self.rect(self.l_margin + 30, y + 1, width, 3, style="F")
            self.set_x(self.l_margin + 30 + width + 2)
            self.cell(15, 5, str(n), new_x="LMARGIN", new_y="NEXT")
        # The fill colour is drawing state: tables drawn after would inherit it.
        self.set_fill_color(255, 255, 255)
        self.ln(2)


COUNT_HEAD = ["Dự kiến", "Đã báo cáo", "Đúng hạn", "Muộn", "Đầy đủ", "Đúng hạn (%)"]
COUNT_ALIGN = ["RIGHT"] * 6



def _reminders(items: list[ReminderRow]) -> str:
    if not items:
        return "chưa có"
    last = items[-1]
    status = REMINDER_STATUS.get(str(last["status"]), str(last["status"]))
    return (f"{len(items)} lần; gần nhất {local_time(last['sent_at'])} "
            f"({last['channel']}, {last['stage']}, {status})")


def _missing(pdf: ReportPDF, missing: list[MissingUnit]) -> None:
    pdf.grid(["Đơn vị", "Loại", "Cụm", "Nhắc nhở đã gửi"],
             [[m["name"], unit_type_label(m["type"]), m["cluster_id"] or "",
               _reminders(m["reminders"])] for m in missing], (58, 38, 24, 58))


def _individuals(pdf: ReportPDF, report: NationalReport) -> None:
    title, sentence, tables = individuals_part(report)
    pdf.subheading(title)
    pdf.para(sentence, style="" if tables else "I")
    for head, rows in tables:
        pdf.grid(head, rows, (146, 32), ["LEFT", "RIGHT"])


def national_pdf(report: NationalReport, font_dir: Path) -> bytes:
    period = report["period"]
    pdf = ReportPDF(font_dir, f"Báo cáo tổng hợp năm {period}",
                    f"Báo cáo tổng hợp năm {period} · lập lúc {local_time(report['as_of'])}")
    pdf.title_block(["BÁO CÁO TỔNG HỢP",
                     f"Kết quả thực hiện phong trào “{movement_title(report)}” năm "
                     f"{period}"], as_of_line(report))
    pdf.para(f"Kính gửi: {addressee(report)}.")
    pdf.para(f"Hạn báo cáo của các đơn vị: {local_time(report['deadline'])} (giờ Hà Nội; "
             f"{DEADLINE_READING}).")

    pdf.heading("I. Tình hình báo cáo")
    pdf.grid(["", *COUNT_HEAD], [["Toàn quốc", *count_cells(report)]], (34, 22, 24, 22, 18, 20, 22),
             ["LEFT", *COUNT_ALIGN])
    pdf.subheading("Theo loại đơn vị")
    pdf.grid(["Loại đơn vị", *COUNT_HEAD],
             [[unit_type_label(t), *count_cells(c)] for t, c in report["by_type"].items()],
             (52, 18, 20, 18, 14, 18, 22), ["LEFT", *COUNT_ALIGN])
    if report["by_cluster"]:
        pdf.subheading("Theo cụm thi đua (Công an các tỉnh, thành phố)")
        pdf.grid(["Cụm thi đua", *COUNT_HEAD],
                 [[c["name"], *count_cells(c)] for c in report["by_cluster"].values()],
                 (52, 18, 20, 18, 14, 18, 22), ["LEFT", *COUNT_ALIGN])
    if shows_individuals(report):
        _individuals(pdf, report)

    pdf.heading("II. Kết quả thực hiện sáu nội dung thi đua")
    for n, c in enumerate(report["contents"].values(), start=1):
        pdf.subheading(f"{n}. {c['title']}")
        pdf.para(f"Số đơn vị báo cáo nội dung này: {number(c['units_reported'])}.")
        if c["indicators"]:
            pdf.grid(["Chỉ tiêu", "Tổng cộng"],
                     [[indicator_label(k), number(v)] for k, v in c["indicators"].items()],
                     (120, 58), ["LEFT", "RIGHT"])
        for e in c["examples"]:
            pdf.para(f"• {e['name']}: {e['summary']}", size=8.5)

    pdf.heading("III. Phân bố điểm thi đua")
    s = report["scores"]
    pdf.para(f"Số đơn vị đã có điểm: {number(s['count'])}; trung bình {number(s['mean'])}; "
             f"trung vị {number(s['median'])}; thấp nhất {number(s['min'])}; cao nhất "
             f"{number(s['max'])} (trên tối đa {number(s['max_possible'])} điểm). "
             f"{DEFAULT_SCALE_NOTE}.")
    pdf.bars([(f"{b['from']}–{b['to']} %", b["count"]) for b in s["histogram"]])

    proposals = pdf.section("IV. Đề nghị khen thưởng", report.get("proposals"),
                            "Chưa có đề nghị khen thưởng cho năm này.")
    if proposals is not None:
        pdf.para(f"Đề nghị lập lúc {local_time(proposals['computed_at'])}; số đơn vị dẫn đầu "
                 f"cụm: "
                 f"{number(proposals.get('cluster_leaders'))}; số Cờ thi đua của Chính phủ "
                 f"tối đa: {number(proposals.get('government_flag_cap'))}.")
        pdf.grid(["Đơn vị", "Cụm", "Hình thức", "Lý do"],
                 [[p["name"], p.get("cluster_id") or "", p["award_label"],
                   reason_vi(p["reason"])] for p in proposals["items"]], (50, 24, 38, 66))

    pdf.heading(f"V. Đơn vị chưa báo cáo ({len(report['missing_units'])})")
    _missing(pdf, report["missing_units"])
    return bytes(pdf.output())


def cluster_pdf(report: ClusterReport, font_dir: Path) -> bytes:
    period, name = report["period"], report["name"]
    pdf = ReportPDF(font_dir, f"{name} - báo cáo năm {period}",
                    f"{name} · năm {period} · lập lúc {local_time(report['as_of'])}")
    pdf.title_block([f"BÁO CÁO TỔNG KẾT NĂM {period}", name.upper()], as_of_line(report))
    head, deputy = report.get("head"), report.get("deputy")
    pdf.para(f"Cụm trưởng năm {period}: {head['name'] if head else '–'}; Cụm phó: "
             f"{deputy['name'] if deputy else '–'}.")
    pdf.heading("I. Tình hình báo cáo")
    pdf.grid(COUNT_HEAD, [count_cells(report)], (28, 30, 28, 26, 26, 30), COUNT_ALIGN)

    pdf.heading("II. Bảng xếp hạng")
    if report["standings_source"] == "derived":
        pdf.para("Xếp hạng tạm tính theo điểm hiện có (chưa có bảng xếp hạng chính thức "
                 "của cụm).", style="I")
    else:
        pdf.para(f"Bảng xếp hạng lập lúc {local_time(report['standings_computed_at'])}, "
                 f"bộ tiêu chí {report['rubric_version']}"
                 + (f", tiêu chí phụ: {tie_break_vi(report['tie_break'])}"
                    if report["tie_break"] else "")
                 + ".")
    pdf.para(f"{DEFAULT_SCALE_NOTE}.", style="I")
    pdf.grid(["Hạng", "Đơn vị", "Điểm", "Tối đa", "Đã báo cáo", "Đúng hạn"],
             [[number(r.get("rank")), r["name"], number(r.get("score")), number(r.get("max")),
               yes_no(r.get("submitted")), yes_no(r.get("on_time"))]
              for r in report["standings"]], (14, 74, 20, 20, 24, 26),
             ["RIGHT", "LEFT", "RIGHT", "RIGHT", "CENTER", "CENTER"])
    pdf.subheading("Chi tiết điểm theo tiêu chí")
    for r in report["standings"]:
        if not r.get("breakdown"):
            continue
        pdf.para(f"{r['name']} — {number(r.get('score'))}/{number(r.get('max'))} điểm",
                 style="B")
        pdf.grid(["Tiêu chí", "Điểm", "Tối đa", "Giải thích"],
                 [[line_label(b["criterion"]), number(b["points"]), number(b["max_points"]),
                   explanation_vi(b["explanation"])] for b in r["breakdown"]], (44, 18, 18, 98),
                 ["LEFT", "RIGHT", "RIGHT", "LEFT"], size=8)

    conference = pdf.section("III. Đề nghị khen thưởng", report.get("conference"),
                             NO_CONFERENCE)
    if conference is not None:
        pdf.para(conference_line(conference))
        pdf.grid(["Đơn vị", "Hình thức", "Lý do"],
                 [[p["name"], p["award_label"], p["reason"]]
                  for p in conference["proposals"]], (60, 44, 74))
    pdf.subheading(SUGGESTIONS_HEADING)
    pdf.grid(["Đơn vị", "Hình thức", "Lý do"],
             [[p["name"], p["award_label"], reason_vi(p["reason"])]
              for p in report["proposals"]],
             (60, 44, 74))

    lead = pdf.section(f"IV. Cụm trưởng, Cụm phó năm {period + 1}",
                       report.get("next_year_leadership"),
                       "Chưa có gợi ý, chưa ghi nhận kết quả bầu.")
    if lead is not None:
        pdf.para(f"Cụm trưởng: {lead['head']['name'] if lead['head'] else '–'}; "
                 f"Cụm phó: {lead['deputy']['name'] if lead['deputy'] else '–'} "
                 f"({lead['status_label']}).")
        if reason := lead.get("reason"):
            pdf.para(f"Căn cứ: {reason_vi(reason)}", size=8.5)

    pdf.heading(f"V. Đơn vị chưa báo cáo ({len(report['missing_units'])})")
    _missing(pdf, report["missing_units"])
    return bytes(pdf.output())
