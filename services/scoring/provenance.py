"""Where every number and rule of the scoring comes from: the rubrics' `source` fields
and a small table of the rules that live in code. `python -m services.scoring.provenance`
prints docs/sources.md; a unit test fails when the page and this output differ, so the
page cannot drift from the rubrics or the constants.

The plan (seed 000) names the contents and the criteria but gives no points, weights,
thresholds, bonuses, deductions, caps or award shares: every such number is the
platform's own and is labelled "platform default, configurable"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.scoring.domain import Rubric, Source
from services.scoring.leadership import RULE as ROTATION_RULE
from services.scoring.rubrics import PLATFORM_DEFAULT, RubricBook, load_rubrics
from services.scoring.standings import (
    CERTIFICATE_MIN_RATIO,
    GOVERNMENT_FLAG_SHARE_PERCENT,
    TIE_BREAK,
)

DEFAULT_LABEL = "platform default, configurable"
RUBRIC_CHANGE = ("publish a new rubric version in `services/scoring/rubrics/` (a file "
                 "`<type>-<year>.<n>.yaml`, in force from its `from_period`), then rescore "
                 "the period (`POST /v1/admin/rescore`)")
# The seeds are Hindi translations of Vietnamese news articles; the quotes below and in
# the rubrics are the platform's Vietnamese rendering of the seed's line.
DEADLINE_QUOTE = ("Hằng năm, các bộ, ngành, địa phương báo cáo kết quả thực hiện phong trào "
                  "thi đua về Bộ Công an và Bộ Nội vụ (Ban Thi đua - Khen thưởng Trung ương) "
                  "để tổng hợp, báo cáo Thủ tướng Chính phủ trước ngày 30/11 hằng năm")
PROPOSALS_QUOTE = ("Cụm thi đua số 4 đã thống nhất bình chọn các đơn vị tiêu biểu, xuất sắc "
                   "trong Cụm thi đua để đề nghị Chính phủ, Bộ Công an khen thưởng")
LEADERSHIP_QUOTE = ("bầu Công an tỉnh Phú Thọ làm Cụm trưởng, Công an tỉnh Bắc Ninh làm Cụm "
                    "phó Cụm thi đua số 4 năm 2025")


@dataclass(frozen=True)
class CodeRule:
    """A rule that lives in code or configuration rather than in a rubric."""
    name: str
    value: str
    where: str
    source: str  # DEFAULT_LABEL, or "seed 000: “…”"
    change: str  # where an operator (or a release) changes it


def _seed(n: str, quote: str) -> str:
    return f"seed {n}: “{quote}”"


CODE_RULES: tuple[CodeRule, ...] = (
    CodeRule("Government emulation flag: share of the cluster leaders proposed",
             f"{GOVERNMENT_FLAG_SHARE_PERCENT}%, rounded down",
             "`services/scoring/standings.py` `GOVERNMENT_FLAG_SHARE_PERCENT`",
             f"{DEFAULT_LABEL} (no legal text for this share is in the seeds or docs; "
             "the platform cites none)",
             "a code change and release of the scoring service, then a rescore"),
    CodeRule("Bằng khen (certificate of merit): minimum share of the maximum",
             f"{CERTIFICATE_MIN_RATIO:.0%}, reported on time",
             "`services/scoring/standings.py` `CERTIFICATE_MIN_RATIO`", DEFAULT_LABEL,
             "a code change and release of the scoring service, then a rescore"),
    CodeRule("Proposals: the cluster's members propose units for recognition",
             "the ranking is an input; the cluster decides",
             "`services/scoring/standings.py` `recognition_proposals`",
             _seed("004", PROPOSALS_QUOTE),
             "—"),
    CodeRule("Bằng khen (certificate of merit): issuing authority named in the reports",
             "Bằng khen của Bộ trưởng Bộ Công an",
             "`services/reporting/labels.py` `AWARDS`",
             f"{DEFAULT_LABEL}: the seeds name no issuer; proposals go to the Government and "
             "the MPS (" + _seed("004", PROPOSALS_QUOTE) + ")",
             "a code change and release of the reporting service"),
    CodeRule("Standings: tie-break at equal totals", TIE_BREAK,
             "`services/scoring/standings.py` `TIE_BREAK`", DEFAULT_LABEL,
             "a code change and release of the scoring service"),
    CodeRule("Next year's cluster head and deputy: suggestion", ROTATION_RULE,
             "`services/scoring/leadership.py` `RULE`",
             f"{DEFAULT_LABEL}; a suggestion only: the cluster elects them ("
             + _seed("004", LEADERSHIP_QUOTE) + ") and an operator records the election",
             "`PUT /v1/clusters/{cluster_id}/conferences/{period}` (submissions service) "
             "records the conference's decisions"),
    CodeRule("The units' reporting deadline, vi-an-ninh (police units)",
             "26/11 23:59:59 of the period, Hanoi time: the day before the cluster "
             "conferences, so a conference ranks a closed season",
             "`services/common/movements.py` `MOVEMENTS` `deadline`",
             f"{DEFAULT_LABEL}: seed 004 gives only the conference's date (27 November), "
             "no deadline for the units",
             "per period: `PUT /v1/movements/vi-an-ninh/deadlines/{period}` (submissions "
             "service); for every period: `MOVEMENTS` in `services/common/movements.py`"),
    CodeRule("The units' reporting deadline, toan-dan",
             "30/11 23:59:59 of the period, Hanoi time",
             "`services/common/movements.py` `MOVEMENTS` `deadline`; reminders: "
             "`services/notifications/campaign_defaults.yaml` `deadline`",
             f"{DEFAULT_LABEL}: the platform's reading of " + _seed("000", DEADLINE_QUOTE)
             + " (the plan's date is for the synthesis to the Prime Minister)",
             "per period: `PUT /v1/movements/toan-dan/deadlines/{period}` (submissions "
             "service; the reminders: `PUT /v1/campaigns/{period}`); for every period: "
             "`MOVEMENTS` and the defaults file"),
    CodeRule("The synthesis for the Prime Minister: due date",
             "29/11 23:59:59 of the period, Hanoi time",
             "`services/notifications/milestone.py` `default_due`",
             f"{DEFAULT_LABEL}: the platform's reading of " + _seed("000", DEADLINE_QUOTE)
             + " (\"before the 30th\": the synthesis is sent by the end of the 29th)",
             "per period: `PUT /v1/milestones/{period}` (`due`)"),
    CodeRule("The synthesis for the Prime Minister: operators' reminders and risk",
             "7, 3 and 1 days before and the day, 09:00; at risk when not drafted 3 days "
             "before, or not sent by the due date",
             "`services/notifications/milestone.py` `REMINDER_DAYS`, `AT_RISK_DAYS`",
             DEFAULT_LABEL, "a code change and release of the notifications service"),
    CodeRule("Reminder stages", "30, 14, 7, 3, 1 days before, the day, 1 and 3 days after",
             "`services/notifications/campaign_defaults.yaml` `stages`", DEFAULT_LABEL,
             "per period: `PUT /v1/campaigns/{period}`; for every period: the defaults file"),
    CodeRule("SMS quiet hours (\"not at night\")", "21:00–07:00, the recipient's local time",
             "`services/notifications/campaign_defaults.yaml` `quiet_hours`",
             f"{DEFAULT_LABEL} (the users asked for no SMS at night; the hours are the "
             "platform's)",
             "per period: `PUT /v1/campaigns/{period}`; for every period: the defaults file"),
    CodeRule("Stale reminder stages after downtime", "not sent when due more than 72 h ago",
             "`services/notifications/campaign_defaults.yaml` `catch_up_hours`", DEFAULT_LABEL,
             "per period: `PUT /v1/campaigns/{period}`; for every period: the defaults file"),
    CodeRule("Completeness alert", "under 90% of the expected units, 7 days or less before "
             "the deadline", "`deploy/prometheus/rules/emulation.yml`", DEFAULT_LABEL,
             "the alert rule file (Prometheus reloads it)"),
)


def describe(source: Source) -> str:
    """A rubric source in words."""
    if source == PLATFORM_DEFAULT:
        return DEFAULT_LABEL
    if isinstance(source, Mapping) and "seed" in source:
        return _seed(str(source["seed"]), str(source["quote"]))
    if isinstance(source, Mapping) and "law" in source:
        return f"{source['law']}: “{source['quote']}”"
    return str(source)


def _num(x: float) -> str:
    return f"{x:g}"


def value_of(rubric: Rubric, path: str) -> str:
    """The number(s) a parameter path of `Rubric.sources` names, in words."""
    parts = path.split(".")
    if parts[0] == "max_total":
        return _num(rubric.max_total)
    if parts[0] == "criteria":
        crit = next(c for c in rubric.criteria if c.id == parts[1])
        if parts[2] == "indicators":
            ind = next(i for i in crit.indicators
                       if (i.content, i.name) == (parts[3], parts[4]))
            steps = ", ".join(f"≥ {_num(t.at_least)}: {_num(t.share)}" for t in ind.thresholds)
            return f"weight {_num(ind.weight)}; {steps}"
        return _num(getattr(crit, parts[2]))
    section = getattr(rubric, parts[0])
    value = getattr(section, parts[1])
    return _num(value[parts[2]] if len(parts) > 2 else value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(book: RubricBook | None = None) -> str:
    """docs/sources.md."""
    book = book or load_rubrics()
    lines = [
        "# Where every number comes from",
        "",
        "<!-- Generated by `python -m services.scoring.provenance > docs/sources.md` from",
        "     the rubrics' `source` fields and services/scoring/provenance.py; a unit test",
        "     fails when this page differs. Do not edit by hand. -->",
        "",
        "The plan (seed 000, \"Toàn dân bảo vệ an ninh Tổ quốc\") names six contents and the",
        "criteria for each type of unit; it gives **no** points, weights, thresholds, flag",
        "bonuses, deductions, caps or award shares. Every such number here is the",
        f"platform's own and says so: **{DEFAULT_LABEL}**. A legal text is cited only where",
        "it can be checked in the seeds or these docs; none can today, so none is cited.",
        "The reports say \"thang điểm mặc định của hệ thống\" wherever a score is shown.",
        "",
        "The seeds are Hindi translations of Vietnamese articles: the quotes are the",
        "platform's Vietnamese rendering of the seed's line, not the official text.",
        "",
        "## Rules in code and configuration",
        "",
        "| rule | value | where | source | how it is changed |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {_cell(r.name)} | {_cell(r.value)} | {r.where} | {_cell(r.source)} | "
              f"{_cell(r.change)} |" for r in CODE_RULES]
    lines += ["", "## Rubrics", "",
              f"Every rubric number labelled {DEFAULT_LABEL} is changed the same way: "
              f"{RUBRIC_CHANGE}.", ""]
    for rubric in book.versions():
        lines += [f"### {rubric.version} ({rubric.unit_type}, from {rubric.from_period})", "",
                  "What each criterion measures (the plan's line):", ""]
        lines += [f"- **{c.id}**: {_seed('000', c.basis)}" for c in rubric.criteria]
        lines += ["", "| parameter | value | source |", "| --- | --- | --- |"]
        lines += [f"| `{path}` | {_cell(value_of(rubric, path))} | {_cell(describe(src))} |"
                  for path, src in rubric.sources.items()]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
