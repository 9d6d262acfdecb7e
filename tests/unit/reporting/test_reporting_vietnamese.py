"""The Vietnamese reports are Vietnamese throughout: every sentence scoring writes in
English (explanations, reasons, the tie-break, the leadership basis) has a Vietnamese
rendering; the national and cluster PDFs, read back with a PDF text extractor, hold no
English sentence; every report says its scores use the platform's default scale; the
six contents keep the plan's wording; the deadline's reading is stated once."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from services.reporting import labels, phrases, projections
from services.reporting.cluster_report import cluster_report
from services.reporting.domain import national_report
from services.reporting.phrases import explanation_vi, line_label, reason_vi, tie_break_vi
from services.reporting.render import html, pdf, tables, xlsx
from services.scoring.domain import score_submission
from services.scoring.leadership import Known, Pair, suggest
from services.scoring.provenance import CODE_RULES
from services.scoring.rubrics import load_rubrics
from services.scoring.standings import TIE_BREAK, rank_members, recognition_proposals
from tests.unit.english_text import english_runs
from tests.unit.render_support import FONTS, needs_font, pdf_text
from tests.unit.reporting_samples import (
    AS_OF,
    CLUSTERS,
    PERIOD,
    UNITS,
    accepted,
    report_doc,
    sample_state,
)

SCALE = "thang điểm mặc định của hệ thống"
EVIDENCE = [{"url": "https://example.vn/a.pdf", "sha256": "0" * 64}]


def _content(n: int, evidence: bool) -> dict[str, Any]:
    return {"summary": "Kết quả", "indicators": {
        "plans_issued": n, "directives_implemented": 4 * n, "grassroots_force_members": 900 * n,
        "steering_committees": 15 * n, "models_replicated": 30 * n,
        "safe_units_certified": 90 * n, "digital_initiatives": n, "propaganda_sessions": 150 * n,
        "people_reached": 80000 * n}, **({"evidence": EVIDENCE} if evidence else {})}


def submissions() -> list[tuple[dict[str, Any], bool]]:
    """Bodies that make scoring write every shape of explanation it has."""
    full = {k: _content(3, True) for k in ("implement_directives", "local_government",
                                           "movement_quality", "science_technology",
                                           "security_forces", "propaganda")}
    return [
        ({"self_assessment": {c: {"rating": 9} for c in ("P1", "P2", "P3", "P4")},
          "contents": full, "flags_held": ["government_emulation_flag", "mps_emulation_flag"]},
         True),
        ({"self_assessment": {"P1": {"rating": 4}},
          "contents": {"propaganda": _content(1, False), "movement_quality": _content(0, True)}},
         False),
        ({"self_assessment": {}, "contents": {"propaganda": {"summary": "x"}},
          "flags_held": ["provincial_emulation_flag"]}, False),
    ]


def breakdowns() -> list[list[dict[str, Any]]]:
    rubric = load_rubrics().get("police-2026.1")
    assert rubric is not None
    return [score_submission(rubric, body, on_time).breakdown_dicts()
            for body, on_time in submissions()]


def scores_of(n: int, late: set[int]) -> dict[str, dict[str, Any]]:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    return {f"police:u{i}": {"total": 99 - i, "max": 100, "on_time": i not in late,
                             "first_received_at": (base + timedelta(hours=i)).isoformat()}
            for i in range(n)}


def proposals() -> dict[str, Any]:
    """Six clusters of two and some lone units: every shape of reason."""
    scores = scores_of(12, late={2})
    scores["province:ha-noi"] = {"total": 90, "max": 100, "on_time": True,
                                 "first_received_at": "2026-11-02T00:00:00+00:00"}
    rows = {f"c{k}": rank_members([f"police:u{k}", f"police:u{k + 6}"], scores)
            for k in range(6)}
    return recognition_proposals(PERIOD, rows, scores, AS_OF)


def reasons() -> list[str]:
    return [p["reason"] for p in proposals()["proposals"]]


def leadership_bases() -> list[str]:
    years = {"2024": {"members": ["a", "b", "c"], "head": "a", "deputy": "b"}}
    known = {2024: Known(Pair("a", "b"), "registry")}
    out = [s.basis for y in (2025, 2027) if (s := suggest(y, years, known))]
    fresh = suggest(2024, {"2024": {"members": ["a", "b"]}}, {})
    return [*out, *([fresh.basis] if fresh else []), "recorded in the unit registry"]


def test_scoring_writes_every_shape_the_phrases_know() -> None:
    lines = [b for bd in breakdowns() for b in bd]
    kinds = {line["criterion"].split(":")[0] for line in lines}
    assert {"P1", "content", "bonus", "deduction"} <= kinds
    text = " | ".join(line["explanation"] for line in lines)
    for shape in ("not self-assessed", "self-rated", "not reported", "below", ">=",
                  "no evidence", "capped at", "first report after the deadline",
                  "without evidence", "no emulation flag held", "on time"):
        assert shape in text, shape
    said = " | ".join(reasons())
    for shape in ("on-time leaders", "not among the best",
                  "outstanding in", "outstanding:"):
        assert shape in said, shape


def test_every_explanation_reason_and_basis_has_a_vietnamese_rendering() -> None:
    for line in (b for bd in breakdowns() for b in bd):
        vi = explanation_vi(line["explanation"])
        assert not english_runs(vi), (line["explanation"], vi)
        assert not english_runs(line_label(line["criterion"])), line["criterion"]
    for reason in reasons() + leadership_bases():
        vi = reason_vi(reason)
        assert not english_runs(vi), (reason, vi)
    assert not english_runs(tie_break_vi(TIE_BREAK) or "")
    # The detector itself finds what scoring writes.
    assert english_runs(" ".join(reasons()))


def _sample_with_real_scoring() -> dict[str, Any]:
    s = sample_state()
    for unit, bd in zip(("police:phu-tho", "police:bac-ninh", "province:ha-noi"),
                        breakdowns(), strict=True):
        s["scores"][unit]["breakdown"] = bd
    data = proposals()
    data["proposals"][0]["unit_id"] = "police:phu-tho"
    data["proposals"][0]["cluster_id"] = "mps-cluster-4"
    s["proposals"] = projections.proposals_doc(data)
    return s


def national() -> dict[str, Any]:
    """toan-dan's synthesis, with its individuals' part (criterion group 5)."""
    s = _sample_with_real_scoring()
    reports = {**s["reports"], **people_reports()}
    return national_report(period=PERIOD, as_of=AS_OF, units=s["units"],
                           clusters=s["clusters"], reports=reports, scores=s["scores"],
                           reminders=s["reminders"], proposals=s["proposals"])


def people_reports() -> dict[str, dict[str, Any]]:
    """Two people of Ha Noi, one in each person group."""
    out = {}
    for unit_id, criterion in (("individual:province-ha-noi-aa0001", "I1"),
                               ("individual:province-ha-noi-aa0002", "I2")):
        data = accepted(unit_id)
        data["content"]["self_assessment"] = {criterion: {"rating": 8}}
        out[unit_id] = report_doc(data)
    return out


def cluster() -> dict[str, Any]:
    s = _sample_with_real_scoring()
    members = CLUSTERS["mps-cluster-4"]["members"]
    standings = projections.standings_doc({
        "cluster_id": "mps-cluster-4", "period": PERIOD, "rubric_version": "police-2026.1",
        "computed_at": "2026-11-25T00:00:00Z", "tie_break": TIE_BREAK,
        "standings": rank_members(members, s["scores"])})
    leadership = projections.leadership_doc({
        "cluster_id": "mps-cluster-4", "period": PERIOD + 1, "head": "police:bac-ninh",
        "deputy": "police:quang-ninh", "status": "suggested", "rule": "rotation-v1",
        "reason": leadership_bases()[0], "decided_at": "2026-11-25T00:00:00Z"})
    return cluster_report(cluster_id="mps-cluster-4", period=PERIOD, as_of=AS_OF,
                          cluster=CLUSTERS["mps-cluster-4"], registry_years={}, units=UNITS,
                          reports=s["reports"], scores=s["scores"], reminders=s["reminders"],
                          standings=standings, proposals=s["proposals"],
                          leadership=leadership)


@needs_font
@pytest.mark.parametrize("kind", ["national", "cluster"])
def test_the_vietnamese_pdfs_hold_no_english_sentence(kind: str) -> None:
    report = national() if kind == "national" else cluster()
    data = (pdf.national_pdf(report, FONTS) if kind == "national"
            else pdf.cluster_pdf(report, FONTS))
    text = pdf_text(data)
    assert not english_runs(text), english_runs(text)[:5]
    assert SCALE in " ".join(text.split())
    if kind == "national":  # the individuals' part is in it, and in Vietnamese
        assert labels.INDIVIDUALS_HEADING in text and "Các đối tượng khác" in text
    # The unit that leads a cluster's ranking is not its head (Cụm trưởng, elected).
    assert "số cụm trưởng" not in text.lower()


@needs_font
def test_the_national_pdf_states_one_reading_of_the_deadline() -> None:
    text = " ".join(pdf_text(pdf.national_pdf(national(), FONTS)).split())
    assert text.count("trước ngày 30/11") == 1
    assert text.count("cách hiểu của hệ thống") == 1
    assert "đơn vị dẫn đầu cụm" in text


def test_every_format_says_the_scale_is_the_platforms_default() -> None:
    n, c = national(), cluster()
    assert SCALE in html.national_html(n).decode() and SCALE in html.cluster_html(c).decode()
    wb = load_workbook(io.BytesIO(xlsx.national_xlsx(n)))
    assert any(SCALE in str(cell.value) for row in wb["Tổng hợp"].iter_rows() for cell in row)
    rows = list(csv.reader(io.StringIO(tables.cluster_csv(c).decode())))
    assert rows[0][-1] == "scale" and all(SCALE in r[-1] for r in rows[1:])
    for report in (n, c):
        assert SCALE in json.dumps(report, ensure_ascii=False)
    for page in (html.national_html(n), html.cluster_html(c)):
        shown = re.sub(r"<[^>]+>", " ", page.decode().split("</style>")[1])
        assert not english_runs(shown), english_runs(shown)[:5]


def test_the_six_contents_keep_the_plans_wording() -> None:
    """Seed 000's six contents (in the platform's Vietnamese rendering of the seed)."""
    titles = [labels.content_title(k) for k in labels.CONTENTS]
    assert list(labels.CONTENTS) == ["implement_directives", "local_government",
                                     "movement_quality", "science_technology",
                                     "security_forces", "propaganda"]
    must = [
        ("nghị quyết, chỉ thị, kết luận, quy định của Đảng, Nhà nước, Bộ Công an",
         "cấp ủy, chính quyền địa phương"),
        ("chính quyền các cấp", "đồng bộ, quyết liệt, hiệu quả"),
        ("“tự quản, tự phòng, tự bảo vệ, tự hòa giải”", "nhân rộng các mô hình điển hình "
         "tiên tiến", "biên giới, biển đảo và trên không gian mạng", "từ gia đình"),
        ("chuyển đổi số", "an ninh, an toàn mạng",
         "thế trận an ninh nhân dân trên không gian mạng"),
        ("lực lượng Công an nhân dân", "lực lượng nòng cốt", "đủ về số lượng"),
        ("tuyên truyền", "quyền lợi và trách nhiệm của toàn dân"),
    ]
    for title, wanted in zip(titles, must, strict=True):
        for phrase in wanted:
            assert phrase in title, (phrase, title)


def test_the_certificate_names_its_issuer() -> None:
    label = labels.award_label("certificate_of_merit")
    assert label.startswith("Bằng khen của ")
    assert any(rule.value == label for rule in CODE_RULES)  # docs/sources.md says whose


def test_the_tie_break_rendered_is_scorings() -> None:
    assert phrases.TIE_BREAK_EN == TIE_BREAK
    assert tie_break_vi(TIE_BREAK) == phrases.TIE_BREAK_VI


@pytest.mark.parametrize(("english", "vietnamese"), [
    ("government_emulation_flag +5, mps_emulation_flag +4 = 9, capped at 5",
     "Cờ thi đua của Chính phủ +5, Cờ thi đua của Bộ Công an +4 = 9, tối đa 5"),
    ("movement_quality.models_replicated = 120 (>= 80: 70%) x 17.5% = 12.25%",
     "số mô hình được nhân rộng (nội dung 3) = 120 (≥ 80: 70%) × 17,5% = 12,25%"),
    ("propaganda.people_reached = 240000 (below 1e+06): 0 of 35%",
     "số lượt người được tuyên truyền (nội dung 6) = 240.000 (dưới 1.000.000): 0 trên 35%"),
    ("80% of 20 = 16.00", "80% của 20 = 16"),
    ("an operator's own words", "an operator's own words"),
])
def test_explanations_read_the_vietnamese_way(english: str, vietnamese: str) -> None:
    assert explanation_vi(english) == vietnamese
