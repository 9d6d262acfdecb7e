"""How the reports write numbers, rates and times for Vietnamese readers."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from services.reporting.labels import VN_TZ


def nfc(text: Any) -> str:
    """Unicode NFC: Vietnamese letters as single precomposed characters, the form the
    font's glyphs and a reader's search expect."""
    return unicodedata.normalize("NFC", "" if text is None else str(text))


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
    return name.replace("_", " ")


def as_of_line(report: dict[str, Any]) -> str:
    """The sentence every report carries about the time it reflects."""
    line = (f"Số liệu phản ánh các sự kiện đã được xử lý đến thời điểm lập báo cáo "
            f"{local_time(report['as_of'])} (giờ Hà Nội)")
    if report.get("last_event_at"):
        line += f"; sự kiện mới nhất lúc {local_time(report['last_event_at'])}"
    return line + "."
