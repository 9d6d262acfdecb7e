"""How the reports write numbers, rates and times for Vietnamese readers."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

from services.common.movements import VI_AN_NINH
from services.reporting import labels
from services.reporting.labels import (
    INDIVIDUAL_COUNTS,
    INDIVIDUALS_HEADING,
    INDIVIDUALS_NOTE,
    NO_INDIVIDUALS,
    VN_TZ,
    person_group_label,
)
from services.reporting.models import ConferenceView, Counts, NationalReport, Report

# Marks that reorder the text around them (embeddings, overrides, isolates): a unit's
# "\u202e" would print the rest of a line, or of a table, backwards.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Controls no format here holds (XML 1.0 forbids them in XLSX; the PDF font has no glyph),
# lone surrogates (no UTF-8 for them), C1 controls and the two non-characters.
_UNFIT = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
                    + BIDI_CONTROLS + "]")
_BREAKS = re.compile("[\x0b\x0c]")  # what Word's manual line and page breaks paste as
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def nfc(text: Any) -> str:
    """The text as every report format shows it: Unicode NFC (Vietnamese letters as single
    precomposed characters, the form the font's glyphs and a reader's search expect),
    vertical tab and form feed as line breaks, and without what a format cannot hold or
    what would reorder the text around it (control characters, lone surrogates,
    bidirectional embeddings, overrides and isolates)."""
    plain = _UNFIT.sub("", _BREAKS.sub("\n", "" if text is None else str(text)))
    return unicodedata.normalize("NFC", plain)


def is_formula_like(text: str) -> bool:
    """A cell a spreadsheet would read as a formula (OWASP, CSV injection)."""
    return text.startswith(FORMULA_STARTS)


def inert(text: str) -> str:
    """A CSV cell a spreadsheet will show as text: a leading apostrophe before what it
    would take for a formula."""
    return "'" + text if is_formula_like(text) else text


def number(value: Any) -> str:
    """12345.5 -> '12.345,5' (Vietnamese separators); '–' for nothing."""
    if value is None or isinstance(value, bool):
        return "–"
    if not isinstance(value, int | float):
        return nfc(value)
    text = f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) \
        else f"{value:,}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def percent(rate: Any) -> str:
    if not isinstance(rate, int | float):
        return "–"
    return f"{rate * 100:.1f}".replace(".", ",") + " %"


def local_time(value: Any) -> str:
    """An ISO time as Hanoi time, '20/11/2026 09:00'; '–' when absent."""
    if not value:
        return "–"
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def yes_no(value: Any) -> str:
    return "–" if value is None else ("Có" if value else "Không")


def indicator_label(name: str) -> str:
    return labels.indicator_label(name)


def count_cells(c: Counts) -> list[str]:
    """A line of counts as the PDF and HTML tables show them (COUNT_HEAD's columns)."""
    return [number(c["expected"]), number(c["submitted"]), number(c["on_time"]),
            number(c["late"]), percent(c["completeness"]), percent(c["timeliness"])]


def as_of_line(report: Report) -> str:
    """The sentence every report carries about the time it reflects."""
    line = (f"Số liệu phản ánh các sự kiện đã được xử lý đến thời điểm lập báo cáo "
            f"{local_time(report['as_of'])} (giờ Hà Nội)")
    if report.get("last_event_at"):
        line += f"; sự kiện mới nhất lúc {local_time(report['last_event_at'])}"
    return line + "."


NO_CONFERENCE = "Chưa ghi nhận biên bản hội nghị cụm."
SUGGESTIONS_HEADING = "Gợi ý của hệ thống (để hội nghị xem xét, không phải quyết định)"


def conference_line(conference: ConferenceView) -> str:
    """The sentence introducing a recorded conference's agreed proposals."""
    held = datetime.fromisoformat(str(conference["date"])).strftime("%d/%m/%Y")
    return (f"Hội nghị cụm ngày {held} tại {conference['place']} thống nhất "
            f"đề nghị (ghi nhận bởi {conference['recorded_by']}, lúc "
            f"{local_time(conference['recorded_at'])}):")


def shows_individuals(report: NationalReport) -> bool:
    """Criterion group 5's people are `toan-dan`'s: `vi-an-ninh`'s report leaves the part
    out, any other says what it counted, none included (a zero is an answer)."""
    return report.get("movement") != VI_AN_NINH


def individuals_submitted(report: NationalReport) -> int:
    people = report.get("individuals")
    return int(people.get("submitted") or 0) if people else 0


def individual_counts(report: NationalReport) -> list[tuple[str, int]]:
    """(label, count) of the people's records: submitted, on time, scored."""
    people = report.get("individuals")
    found = {k: v for k, v in people.items() if isinstance(v, int)} if people else {}
    return [(label, int(found.get(key) or 0)) for key, label in INDIVIDUAL_COUNTS.items()]


def individuals_line(report: NationalReport) -> str:
    submitted, on_time, scored = (n for _, n in individual_counts(report))
    return (f"Số hồ sơ đã báo cáo: {number(submitted)}, trong đó đúng hạn: {number(on_time)}; "
            f"đã chấm điểm: {number(scored)}.")


def individual_groups(report: NationalReport) -> list[tuple[str, str, int]]:
    """(group, the plan's words for it, records) for 5a and 5b."""
    people = report.get("individuals")
    by_group = (people.get("by_group") if people else None) or {}
    return [(g, person_group_label(g), int(n)) for g, n in by_group.items()]


def individual_units(report: NationalReport) -> list[tuple[str, str, int]]:
    """(unit id, unit name, records) per reporting unit, most records first: the units,
    never a person's id."""
    names = {u["unit_id"]: u["name"] for u in report.get("units", [])}
    people = report.get("individuals")
    by_unit = (people.get("by_unit") if people else None) or {}
    rows = [(uid, str(names.get(uid, uid)), int(n)) for uid, n in by_unit.items()]
    return sorted(rows, key=lambda r: (-r[2], r[1]))


def individual_tables(report: NationalReport) -> Tables:
    """The PDF's and the HTML's two tables, (heading, rows): by person group, by unit."""
    return [(["Nhóm đối tượng", "Số hồ sơ"],
             [[label, number(n)] for _, label, n in individual_groups(report)]),
            (["Đơn vị báo cáo", "Số hồ sơ"],
             [[name, number(n)] for _, name, n in individual_units(report)])]


Tables = list[tuple[list[str], list[list[str]]]]


def individuals_part(report: NationalReport) -> tuple[str, str, Tables]:
    """The PDF's and the HTML's part on individuals: its heading, its sentence, and its
    tables (none, and the sentence the note that there is nothing, when no record came)."""
    if not individuals_submitted(report):
        return INDIVIDUALS_HEADING, NO_INDIVIDUALS, []
    return (INDIVIDUALS_HEADING, f"{individuals_line(report)} {INDIVIDUALS_NOTE}.",
            individual_tables(report))
