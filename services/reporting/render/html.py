"""The reports as self-contained printable HTML pages (no script, no outside resource;
every value escaped, without bidirectional controls, and each cell and paragraph its own
bidirectional paragraph: right-to-left text in one never reorders another)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from services.reporting.labels import (
    DEADLINE_READING,
    DEFAULT_SCALE_NOTE,
    REMINDER_STATUS,
    movement_title,
    unit_type_label,
)
from services.reporting.models import ClusterReport, MissingUnit, NationalReport, Report
from services.reporting.phrases import explanation_vi, line_label, reason_vi, tie_break_vi
from services.reporting.render import text

STYLE = """
body{font-family:"DejaVu Sans",Arial,sans-serif;font-size:13px;color:#1b1b1b;margin:24px auto;
max-width:1000px;line-height:1.45}
h1{font-size:20px;text-align:center;margin:0}h1+p.sub{text-align:center;margin:4px 0 0;
font-weight:bold}
p.asof{text-align:center;font-style:italic;color:#444}
h2{font-size:16px;border-bottom:2px solid #2c4d75;padding-bottom:2px;margin-top:28px}
h3{font-size:14px;margin:16px 0 6px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}
th,td{border:1px solid #b8c2cc;padding:3px 6px;vertical-align:top}
th{background:#e1e8f0;text-align:left}td.n{text-align:right;white-space:nowrap}
td,th,p,li{unicode-bidi:plaintext}
.bar{display:inline-block;height:10px;background:#46709f;vertical-align:middle}
.muted{color:#666;font-style:italic}
@media print{body{margin:0;max-width:none;font-size:11px}h2{break-after:avoid}
tr{break-inside:avoid}}
"""


def _e(value: Any) -> str:
    return escape(text.nfc(value))


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]],
           numeric: Sequence[int] = ()) -> str:
    if not rows:
        return '<p class="muted">(không có)</p>'
    ths = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
                         for i, v in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, sub: str, report: Report, body: str) -> bytes:
    doc = (f'<!doctype html><html lang="vi"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1">'
           f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
           f"<h1>{_e(title)}</h1><p class=\"sub\">{_e(sub)}</p>"
           f'<p class="asof" id="as-of" data-as-of="{_e(report["as_of"])}">'
           f"{_e(text.as_of_line(report))}</p>{body}</body></html>")
    return doc.encode("utf-8")


COUNT_HEAD = ["Dự kiến", "Đã báo cáo", "Đúng hạn", "Muộn", "Tỷ lệ đầy đủ", "Tỷ lệ đúng hạn"]



def _missing(missing: list[MissingUnit]) -> str:
    rows = []
    for m in missing:
        sent = "; ".join(
            f"{r['stage']} {r['channel']} → {r['recipient']}: "
            f"{REMINDER_STATUS.get(str(r['status']), r['status'])} {text.local_time(r['sent_at'])}"
            for r in m["reminders"]) or "chưa có"
        rows.append([m["name"], m["unit_id"], unit_type_label(m["type"]),
                     m["cluster_id"] or "", sent])
    return _table(["Đơn vị", "Mã", "Loại", "Cụm", "Nhắc nhở đã gửi"], rows)


def _individuals(report: NationalReport) -> str:
    title, sentence, tables = text.individuals_part(report)
    head = f'<h3 id="individuals">{_e(title)}</h3>'
    if not tables:
        return f'{head}<p class="muted">{_e(sentence)}</p>'
    return "".join([head, f"<p>{_e(sentence)}</p>",
                    *(_table(h, rows, [1]) for h, rows in tables)])


def national_html(report: NationalReport) -> bytes:
    period = report["period"]
    parts = [f"<p>Hạn báo cáo của các đơn vị: {_e(text.local_time(report['deadline']))} (giờ Hà "
             f"Nội; {_e(DEADLINE_READING)}).</p>",
             "<h2>I. Tình hình báo cáo</h2>",
             _table(["", *COUNT_HEAD], [["Toàn quốc", *text.count_cells(report)]], range(1, 7)),
             "<h3>Theo loại đơn vị</h3>",
             _table(["Loại đơn vị", *COUNT_HEAD],
                    [[unit_type_label(t), *text.count_cells(c)]
                     for t, c in report["by_type"].items()],
                    range(1, 7)),
             "<h3>Theo cụm thi đua</h3>",
             _table(["Cụm thi đua", *COUNT_HEAD],
                    [[c["name"], *text.count_cells(c)] for c in report["by_cluster"].values()],
                    range(1, 7))]
    if text.shows_individuals(report):
        parts.append(_individuals(report))
    parts.append("<h2>II. Kết quả thực hiện sáu nội dung thi đua</h2>")
    for n, c in enumerate(report["contents"].values(), start=1):
        parts.append(f"<h3>{n}. {_e(c['title'])}</h3><p>Số đơn vị báo cáo: "
                     f"{_e(text.number(c['units_reported']))}</p>")
        parts.append(_table(["Chỉ tiêu", "Tổng cộng"],
                            [[text.indicator_label(k), text.number(v)]
                             for k, v in c["indicators"].items()],
                            [1]))
        parts += [f"<p>• <b>{_e(e['name'])}</b>: {_e(e['summary'])}</p>" for e in c["examples"]]
    s = report["scores"]
    top = max((b["count"] for b in s["histogram"]), default=0) or 1
    parts += [
        "<h2>III. Phân bố điểm thi đua</h2>",
        f"<p>Số đơn vị có điểm: {_e(text.number(s['count']))}; "
        f"trung bình {_e(text.number(s['mean']))}; "
        f"trung vị {_e(text.number(s['median']))}; thấp nhất {_e(text.number(s['min']))}; cao nhất "
        f"{_e(text.number(s['max']))} (tối đa {_e(text.number(s['max_possible']))}). "
        f"{_e(DEFAULT_SCALE_NOTE)}.</p>",
        "<table><tbody>" + "".join(
            f"<tr><td>{b['from']}–{b['to']} %</td><td><span class=\"bar\" "
            f"style=\"width:{round(300 * b['count'] / top)}px\"></span> {b['count']}</td></tr>"
            for b in s["histogram"]) + "</tbody></table>",
        "<h2>IV. Đề nghị khen thưởng</h2>"]
    proposals = report.get("proposals")
    parts.append('<p class="muted">Chưa có đề nghị khen thưởng.</p>' if proposals is None else
                 _table(["Đơn vị", "Cụm", "Hình thức", "Lý do"],
                        [[p["name"], p.get("cluster_id") or "", p["award_label"],
                          reason_vi(p["reason"])] for p in proposals["items"]]))
    parts += [f"<h2>V. Đơn vị chưa báo cáo ({len(report['missing_units'])})</h2>",
              _missing(report["missing_units"])]
    return _page("BÁO CÁO TỔNG HỢP", f"Kết quả thực hiện phong trào “{movement_title(report)}” "
                 f"năm {period}", report, "".join(parts))


def cluster_html(report: ClusterReport) -> bytes:
    period = report["period"]
    head, deputy = report.get("head"), report.get("deputy")
    parts = [f"<p>Cụm trưởng năm {period}: {_e(head['name'] if head else '–')}; Cụm phó: "
             f"{_e(deputy['name'] if deputy else '–')}.</p>",
             "<h2>I. Tình hình báo cáo</h2>",
             _table(COUNT_HEAD, [text.count_cells(report)], range(6)),
             "<h2>II. Bảng xếp hạng</h2>"]
    if report["standings_source"] == "derived":
        parts.append('<p class="muted">Xếp hạng tạm tính theo điểm hiện có (chưa có bảng '
                     "xếp hạng chính thức của cụm).</p>")
    else:
        parts.append(f"<p>Lập lúc {_e(text.local_time(report['standings_computed_at']))}; bộ tiêu "
                     f"chí {_e(report['rubric_version'])}; tiêu chí phụ: "
                     f"{_e(tie_break_vi(report['tie_break']) or '–')}.</p>")
    parts.append(f'<p class="muted">{_e(DEFAULT_SCALE_NOTE)}.</p>')
    parts.append(_table(["Hạng", "Đơn vị", "Điểm", "Tối đa", "Đã báo cáo", "Đúng hạn"],
                        [[text.number(r.get("rank")), r["name"], text.number(r.get("score")),
                          text.number(r.get("max")), text.yes_no(r.get("submitted")),
                          text.yes_no(r.get("on_time"))] for r in report["standings"]], [0, 2, 3]))
    for r in report["standings"]:
        if r.get("breakdown"):
            parts.append(f"<h3>{_e(r['name'])}: {_e(text.number(r.get('score')))}/"
                         f"{_e(text.number(r.get('max')))}</h3>")
            parts.append(_table(["Tiêu chí", "Điểm", "Tối đa", "Giải thích"],
                                [[line_label(b["criterion"]), text.number(b["points"]),
                                  text.number(b["max_points"]), explanation_vi(b["explanation"])]
                                 for b in r["breakdown"]], [1, 2]))
    parts.append("<h2>III. Đề nghị khen thưởng</h2>")
    conference = report.get("conference")
    if conference is None:
        parts.append(f'<p class="muted">{_e(text.NO_CONFERENCE)}</p>')
    else:
        parts += [f"<p>{_e(text.conference_line(conference))}</p>",
                  _table(["Đơn vị", "Hình thức", "Lý do"],
                         [[p["name"], p["award_label"], p["reason"]]
                          for p in conference["proposals"]])]
    parts += [f"<h3>{_e(text.SUGGESTIONS_HEADING)}</h3>",
              _table(["Đơn vị", "Hình thức", "Lý do"],
                     [[p["name"], p["award_label"], reason_vi(p["reason"])]
                      for p in report["proposals"]]),
              f"<h2>IV. Cụm trưởng, Cụm phó năm {period + 1}</h2>"]
    lead = report.get("next_year_leadership")
    if lead is None:
        parts.append('<p class="muted">Chưa có gợi ý, chưa ghi nhận kết quả bầu.</p>')
    else:
        parts.append(f"<p>Cụm trưởng: <b>{_e(lead['head']['name'] if lead['head'] else '–')}"
                     f"</b>; Cụm phó: <b>{_e(lead['deputy']['name'] if lead['deputy'] else '–')}"
                     f"</b> ({_e(lead['status_label'])}). "
                     f"{_e(reason_vi(lead.get('reason') or ''))}</p>")
    parts += [f"<h2>V. Đơn vị chưa báo cáo ({len(report['missing_units'])})</h2>",
              _missing(report["missing_units"])]
    return _page(f"BÁO CÁO TỔNG KẾT NĂM {period}", report["name"], report, "".join(parts))
