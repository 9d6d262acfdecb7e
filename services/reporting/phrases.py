"""Vietnamese renderings of the sentences scoring writes in English: a score line's
explanation (services/scoring/domain.py), a proposal's reason and the tie-break
(services/scoring/standings.py), the leadership basis (services/scoring/leadership.py).

The events keep scoring's English (the contract's `explanation`, `reason`); the
Vietnamese reports show these renderings. Each sentence is matched part by part
against the shapes scoring writes; a part no shape matches is shown as it came (an
operator's own words, say). tests/unit/test_reporting_phrases.py renders every shape
scoring can write and fails when any English is left."""

from __future__ import annotations

import re
from collections.abc import Callable

from services.reporting.labels import content_short, indicator_label
from services.reporting.render.text import number

_N = r"-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?"


def _num(text: str) -> str:
    """A number as scoring writes it ('12.5', '240000', '17.5%') the Vietnamese way
    ('12,5', '240.000', '17,5%')."""
    pct = text.endswith("%")
    try:
        value = float(text[:-1] if pct else text)
    except ValueError:
        return text
    return number(int(value) if value.is_integer() else value) + ("%" if pct else "")


def _indicator(where: str) -> str:
    content, _, name = where.partition(".")
    return f"{indicator_label(name)} ({content_short(content).split(' (')[0].lower()})"


def _contents(names: str) -> str:
    return ", ".join(content_short(n.strip()).split(" (")[0].lower() for n in names.split(","))


def _flag(name: str) -> str:
    return {"government_emulation_flag": "Cờ thi đua của Chính phủ",
            "mps_emulation_flag": "Cờ thi đua của Bộ Công an",
            "ministry_emulation_flag": "Cờ thi đua của bộ, ngành",
            "provincial_emulation_flag": "Cờ thi đua của tỉnh"}.get(name, name)


Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _rules(*pairs: tuple[str, Callable[[re.Match[str]], str]]) -> list[Rule]:
    # The last line of a list wins nothing: the first pattern that matches a whole part does.
    return [(re.compile(f"^{p}$"), f) for p, f in pairs]


# One part of an explanation (the text between "; ").
EXPLANATION_PARTS: list[Rule] = _rules(
    (r"not self-assessed: 0 of (\S+)",
     lambda m: f"không tự chấm: 0 trên {_num(m[1])}"),
    (rf"self-rated ({_N})/10: (\S+) x ({_N})/10 = (\S+)",
     lambda m: f"tự chấm {m[1]}/10: {_num(m[2])} × {m[3]}/10 = {_num(m[4])}"),
    (r"([a-z_]+\.[a-z0-9_]+) not reported: 0 of (\S+)",
     lambda m: f"{_indicator(m[1])}: chưa báo cáo, 0 trên {_num(m[2])}"),
    (rf"([a-z_]+\.[a-z0-9_]+) = ({_N}) \(below ({_N})\): 0 of (\S+)",
     lambda m: f"{_indicator(m[1])} = {_num(m[2])} (dưới {_num(m[3])}): 0 trên {_num(m[4])}"),
    (rf"([a-z_]+\.[a-z0-9_]+) = ({_N}) \(>= ({_N}): (\S+)\) x (\S+) = (\S+)",
     lambda m: f"{_indicator(m[1])} = {_num(m[2])} (≥ {_num(m[3])}: {_num(m[4])}) × "
               f"{_num(m[5])} = {_num(m[6])}"),
    (rf"(\S+) of ({_N}) = ({_N})",
     lambda m: f"{_num(m[1])} của {_num(m[2])} = {_num(m[3])}"),
    (r"not reported", lambda m: "chưa báo cáo"),
    (rf"reported \((\S+)\) with ({_N}) evidence documents? \((\S+)\): (\S+) of ({_N}) = ({_N})",
     lambda m: f"có báo cáo ({_num(m[1])}) kèm {m[2]} tài liệu minh chứng ({_num(m[3])}): "
               f"{_num(m[4])} của {_num(m[5])} = {_num(m[6])}"),
    (rf"reported \((\S+)\), no evidence \(0 of (\S+)\): (\S+) of ({_N}) = ({_N})",
     lambda m: f"có báo cáo ({_num(m[1])}), không có minh chứng (0 trên {_num(m[2])}): "
               f"{_num(m[3])} của {_num(m[4])} = {_num(m[5])}"),
    (r"no emulation flag held", lambda m: "chưa có cờ thi đua"),
    (rf"((?:[a-z_]+ \+{_N}(?:, )?)+)(?: = ({_N}), capped at ({_N}))?",
     lambda m: ", ".join(f"{_flag(f)} +{_num(p)}" for f, p in
                         re.findall(rf"([a-z_]+) \+({_N})", m[1]))
               + (f" = {_num(m[2])}, tối đa {_num(m[3])}" if m[2] else "")),
    (r"on time", lambda m: "đúng hạn"),
    (rf"first report after the deadline: -({_N})",
     lambda m: f"báo cáo lần đầu sau hạn: -{_num(m[1])}"),
    (rf"({_N}) of 6 contents not reported(?: \(([a-z_, ]+)\): ({_N}) x -({_N}))?",
     lambda m: f"{m[1]}/6 nội dung chưa báo cáo"
               + (f" ({_contents(m[2])}): {m[3]} × -{_num(m[4])}" if m[2] else "")),
    (rf"({_N}) reported contents? without evidence(?: \(([a-z_, ]+)\): ({_N}) x -({_N}))?",
     lambda m: f"{m[1]} nội dung đã báo cáo không có minh chứng"
               + (f" ({_contents(m[2])}): {m[3]} × -{_num(m[4])}" if m[2] else "")),
    (rf"limited to ({_N}) by the cap of ({_N}) on deductions",
     lambda m: f"chỉ trừ {_num(m[1])} do tổng điểm trừ tối đa {_num(m[2])}"),
    (r"a total below 0 counts as 0", lambda m: "tổng điểm dưới 0 được tính là 0"),
)

# One part of a proposal's reason.
# Where a leadership suggestion's anchor year comes from (services/scoring/leadership.py).
ANCHOR_SOURCES = {"registry": "theo danh mục đơn vị", "conference": "theo biên bản hội nghị cụm"}

REASON_PARTS: list[Rule] = _rules(
    (rf"led (\S+) with ({_N})/({_N}) \(rank 1 of ({_N})\)(, on time)?",
     lambda m: f"dẫn đầu {m[1]} với {_num(m[2])}/{_num(m[3])} điểm (hạng 1/{m[4]})"
               + (", đúng hạn" if m[5] else "")),
    (rf"({_N})(?:st|nd|rd|th) of ({_N}) on-time leaders by share of the maximum",
     lambda m: f"thứ {m[1]}/{m[2]} đơn vị dẫn đầu cụm báo cáo đúng hạn, xếp theo tỷ lệ "
               "điểm trên điểm tối đa"),
    (rf"the Government flag goes to at most 20% of the ({_N}) cluster leaders, rounded "
     rf"down: ({_N})",
     lambda m: f"Cờ thi đua của Chính phủ dành cho tối đa 20% (mức mặc định của hệ thống) "
               f"trong {m[1]} đơn vị dẫn đầu cụm, làm tròn xuống: {m[2]}"),
    (r"late, so not eligible for the Government flag",
     lambda m: "báo cáo muộn nên không được xét Cờ thi đua của Chính phủ"),
    (rf"not among the best ({_N}) for the Government flag \(20% of ({_N}) cluster leaders, "
     r"rounded down\)",
     lambda m: f"không thuộc {m[1]} đơn vị tốt nhất được xét Cờ thi đua của Chính phủ "
               f"(20% của {m[2]} đơn vị dẫn đầu cụm, làm tròn xuống; mức mặc định của hệ "
               "thống)"),
    (rf"outstanding(?: in (\S+))?: ({_N})/({_N}) = ([0-9.]+)% of the maximum \(at least "
     rf"([0-9.]+)%\), on time",
     lambda m: "tiêu biểu" + (f" trong {m[1]}" if m[1] else "")
               + f": {_num(m[2])}/{_num(m[3])} = {_num(m[4])}% điểm tối đa (từ "
               f"{_num(m[5])}% trở lên, mức mặc định của hệ thống), đúng hạn"),
    (r"recorded in the unit registry", lambda m: "theo danh mục đơn vị"),
    (r"elected at the cluster conference", lambda m: "do hội nghị cụm bầu"),
    # The leadership suggestion's basis (services/scoring/leadership.py, suggest).
    (r"([0-9]{4}): head (\S+), deputy (\S+) \((registry|[a-z]+)\)",
     lambda m: f"năm {m[1]}: Cụm trưởng {m[2]}, Cụm phó "
               f"{'không có' if m[3] == 'none' else m[3]} "
               f"({ANCHOR_SOURCES.get(m[4], 'theo quyết định')})"),
    (r"no known leadership: the first two members of ([0-9]{4})",
     lambda m: f"chưa có Cụm trưởng, Cụm phó nào được ghi nhận: hai đơn vị đầu danh sách "
               f"năm {m[1]}"),
    (r"rotated ([0-9]+) times", lambda m: f"luân phiên {m[1]} lần"),
)

# Scoring's TIE_BREAK (services/scoring/standings.py; a test keeps the two equal).
TIE_BREAK_EN = ("reports on time only; higher total first, then the earlier first "
                "submission, then the unit id; late reports follow unranked, then members "
                "without a report, by unit id")
TIE_BREAK_VI = ("chỉ xếp hạng báo cáo đúng hạn; tổng điểm cao hơn xếp trước, rồi đơn vị gửi "
                "báo cáo lần đầu sớm hơn, rồi theo mã đơn vị; báo cáo muộn xếp sau, không "
                "tính điểm, rồi đơn vị chưa báo cáo, theo mã đơn vị")
# The rule of standings computed before late reports were left unranked (stored events).
_TIE_BREAK_BEFORE_EN = ("higher total first; at equal totals on time before late, then the "
                        "earlier first submission, then the unit id; members without a "
                        "score follow, by unit id")
_TIE_BREAK_BEFORE_VI = ("tổng điểm cao hơn xếp trước; bằng điểm thì đơn vị báo cáo đúng hạn "
                        "xếp trước đơn vị báo cáo muộn, rồi đơn vị gửi báo cáo lần đầu sớm "
                        "hơn, rồi theo mã đơn vị; đơn vị chưa có điểm xếp sau, theo mã đơn vị")


def _render(text: str, rules: list[Rule], separator: str) -> str:
    out = []
    for part in text.split(separator):
        for pattern, make in rules:
            m = pattern.match(part.strip())
            if m:
                out.append(make(m))
                break
        else:
            out.append(part.strip())
    return separator.join(out)


def explanation_vi(text: str) -> str:
    """A score line's explanation, in Vietnamese."""
    return _render(text, EXPLANATION_PARTS, "; ")


def reason_vi(text: str) -> str:
    """A proposal's reason, or a leadership basis, in Vietnamese."""
    return _render(text, REASON_PARTS, "; ")


def tie_break_vi(text: str | None) -> str | None:
    if not text:
        return text
    return {TIE_BREAK_EN: TIE_BREAK_VI, _TIE_BREAK_BEFORE_EN: _TIE_BREAK_BEFORE_VI}.get(text, text)


def line_label(criterion: str) -> str:
    """A score line's name: criterion ids stay (P1, M3); the others in Vietnamese."""
    kind, _, key = criterion.partition(":")
    if kind == "content":
        return content_short(key)
    return {"bonus:flags": "Điểm thưởng (cờ thi đua)",
            "deduction:late": "Điểm trừ: báo cáo muộn",
            "deduction:missing_content": "Điểm trừ: thiếu nội dung",
            "deduction:no_evidence": "Điểm trừ: thiếu minh chứng",
            "adjustment:floor": "Điều chỉnh (tổng không âm)"}.get(criterion, criterion)


