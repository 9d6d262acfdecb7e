"""Every reminder template renders for every unit of the registry, in its language, and
every SMS stays within its budget of two segments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from services.notifications import sms
from services.notifications.domain import VN_TZ, stage_time
from services.notifications.templates import (
    SMS_MAX_SEGMENTS,
    TemplateError,
    Templates,
    digest_values,
    language_of,
    reminder_values,
)
from tests.unit.notifications_support import CAMPAIGN, units

TEMPLATES = Templates()


@pytest.mark.parametrize("stage", CAMPAIGN.stages, ids=lambda s: s.name)
def test_every_sms_fits_two_segments_for_every_unit(stage: Any) -> None:
    worst = 0
    for unit in units():
        lang = language_of(unit)
        for now in (stage_time(CAMPAIGN, stage), datetime(2040, 10, 1, 9, tzinfo=VN_TZ)):
            values = reminder_values(unit=unit, campaign=CAMPAIGN, stage=stage, now=now,
                                     lang=lang)
            text = TEMPLATES.reminder(lang=lang, stage=stage, channel="sms",
                                      values=values).body
            assert str(CAMPAIGN.period) in text and unit["name" if lang == "vi"
                                                          else "name_en"] in text
            worst = max(worst, sms.segments(text))
    assert worst <= SMS_MAX_SEGMENTS


def test_vietnamese_and_english_reminders_say_the_unit_period_deadline_and_days() -> None:
    stage = CAMPAIGN.stage("d-7")
    assert stage is not None
    now = stage_time(CAMPAIGN, stage)
    vi_unit = {"_id": "police:lang-son", "name": "Công an tỉnh Lạng Sơn",
               "contacts": {"language": "vi"}}
    en_unit = {"_id": "ministry:foreign-affairs", "name": "Bộ Ngoại giao",
               "name_en": "Ministry of Foreign Affairs", "contacts": {"language": "en"}}
    vi = TEMPLATES.reminder(lang="vi", stage=stage, channel="email", values=reminder_values(
        unit=vi_unit, campaign=CAMPAIGN, stage=stage, now=now, lang="vi"))
    assert vi.subject and "còn 7 ngày" in vi.subject
    assert "Công an tỉnh Lạng Sơn" in vi.body and "23:59 ngày 30/11/2040" in vi.body
    en = TEMPLATES.reminder(lang="en", stage=stage, channel="email", values=reminder_values(
        unit=en_unit, campaign=CAMPAIGN, stage=stage, now=now, lang="en"))
    assert en.subject and "7 days" in en.subject
    assert "Ministry of Foreign Affairs" in en.body and "30 November 2040" in en.body
    overdue = CAMPAIGN.stage("overdue-3")
    assert overdue is not None
    sms_text = TEMPLATES.reminder(lang="en", stage=overdue, channel="sms",
                                  values=reminder_values(
                                      unit=en_unit, campaign=CAMPAIGN, stage=overdue,
                                      now=stage_time(CAMPAIGN, overdue), lang="en")).body
    assert "3 days overdue" in sms_text


def test_the_digest_lists_the_overdue_units() -> None:
    stage = CAMPAIGN.stage("overdue-1")
    assert stage is not None
    recipient = {"_id": "ministry:public-security", "name": "Bộ Công an",
                 "contacts": {"language": "vi"}}
    listed = [{"_id": "police:lang-son", "name": "Công an tỉnh Lạng Sơn"},
              {"_id": "province:lang-son", "name": "Ủy ban nhân dân tỉnh Lạng Sơn"}]
    out = TEMPLATES.digest(lang="vi", values=digest_values(
        recipient=recipient, units=listed, campaign=CAMPAIGN, stage=stage,
        now=stage_time(CAMPAIGN, stage), lang="vi"))
    assert out.subject and "2 đơn vị" in out.subject
    assert "Kính gửi Bộ Công an" in out.body
    assert "- Công an tỉnh Lạng Sơn (police:lang-son)" in out.body


def test_a_stage_named_template_overrides_its_kind(tmp_path: Any) -> None:
    import shutil

    from services.notifications.templates import TEMPLATES_DIR

    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, root)
    (root / "vi" / "d-1.sms.txt").write_text("Ngày mai hết hạn: {unit_name}.", "utf-8")
    custom = Templates(root)
    d1, d3 = CAMPAIGN.stage("d-1"), CAMPAIGN.stage("d-3")
    assert d1 is not None and d3 is not None
    values = {"unit_name": "X", "period": 2040, "days_left_text": "1 ngày",
              "deadline_short": "23:59 30/11"}
    assert custom.reminder(lang="vi", stage=d1, channel="sms", values=values).body == (
        "Ngày mai hết hạn: X.")
    assert custom.reminder(lang="vi", stage=d3, channel="sms", values=values).body.startswith(
        "X: còn")
    (root / "vi" / "d-1.sms.txt").write_text("{nobody_fills_this}", "utf-8")
    with pytest.raises(TemplateError):
        Templates(root).reminder(lang="vi", stage=d1, channel="sms", values=values)


def test_a_missing_template_is_refused_at_start(tmp_path: Any) -> None:
    (tmp_path / "vi").mkdir()
    with pytest.raises(TemplateError, match="missing template"):
        Templates(tmp_path)
