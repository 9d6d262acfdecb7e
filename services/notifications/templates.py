"""Reminder texts from the files in `templates/`, per language and stage (see its
README). Loading reads files once; rendering is pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from services.common import movements
from services.notifications.domain import Campaign, Stage, days_left
from services.notifications.models import DigestValues, ReminderValues

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LANGUAGES = ("vi", "en")
FALLBACK_LANGUAGE = "vi"
SMS_MAX_SEGMENTS = 2
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")


class TemplateError(ValueError):
    """A template is missing or names a placeholder nobody fills."""


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str


class Templates:
    def __init__(self, root: Path = TEMPLATES_DIR) -> None:
        self.files: dict[tuple[str, str, str], str] = {}
        for path in sorted(root.glob("*/*.txt")):
            name, channel = path.name.removesuffix(".txt").rsplit(".", 1)
            self.files[(path.parent.name, name, channel)] = path.read_text(encoding="utf-8")
        for lang in LANGUAGES:
            for kind in ("reminder", "deadline", "overdue"):
                for channel in ("email", "sms"):
                    if (lang, kind, channel) not in self.files:
                        raise TemplateError(f"missing template {lang}/{kind}.{channel}.txt")
            for name, channel in (("digest", "email"), ("twice", "sms"), ("twice", "note")):
                if (lang, name, channel) not in self.files:
                    raise TemplateError(f"missing template {lang}/{name}.{channel}.txt")

    def _source(self, lang: str, names: tuple[str, ...], channel: str) -> str:
        for language in (lang, FALLBACK_LANGUAGE):
            for name in names:
                text = self.files.get((language, name, channel))
                if text is not None:
                    return text
        raise TemplateError(f"no template for {names} over {channel} in {lang}")

    def reminder(self, *, lang: str, stage: Stage, channel: str,
                 values: Mapping[str, Any]) -> Rendered:
        return _render(self._source(lang, (stage.name, stage.kind), channel), channel, values)

    def twice_note(self, lang: str) -> str:
        """The note of a reminder sent again by the other channel: "you may receive this
        twice" (in the e-mail's first paragraph, and on the unit's reminders listing)."""
        return " ".join(self._source(lang, ("twice",), "note").split())

    def fallback(self, *, lang: str, stage: Stage, channel: str,
                 values: Mapping[str, Any]) -> Rendered:
        """A reminder whose first channel's outcome is unknown, sent by the other one: an
        SMS of its own (`twice.sms.txt`, within the two segments), or the stage's e-mail
        with the note first."""
        if channel != "email":
            return _render(self._source(lang, ("twice",), "sms"), channel, values)
        mail = self.reminder(lang=lang, stage=stage, channel=channel, values=values)
        return Rendered(subject=mail.subject, body=f"{self.twice_note(lang)}\n\n{mail.body}")

    def digest(self, *, lang: str, values: Mapping[str, Any]) -> Rendered:
        return _render(self._source(lang, ("digest",), "email"), "email", values)


def _render(source: str, channel: str, values: Mapping[str, Any]) -> Rendered:
    try:
        text = source.format_map(dict(values))
    except (KeyError, IndexError, ValueError) as exc:
        raise TemplateError(f"template placeholder not filled: {exc}") from exc
    if channel != "email":
        return Rendered(subject=None, body=" ".join(text.split()))
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject:"):
        raise TemplateError("an e-mail template starts with a Subject: line")
    return Rendered(subject=head.removeprefix("Subject:").strip(), body=body.strip() + "\n")


def language_of(unit: Mapping[str, Any]) -> str:
    lang = (unit.get("contacts") or {}).get("language") or FALLBACK_LANGUAGE
    return lang if lang in LANGUAGES else FALLBACK_LANGUAGE


def unit_name(unit: Mapping[str, Any], lang: str) -> str:
    if lang == "en" and unit.get("name_en"):
        return str(unit["name_en"])
    return str(unit.get("name") or unit.get("_id") or "")


def _days(n: int, lang: str) -> str:
    if lang == "en":
        return f"{n} day" if n == 1 else f"{n} days"
    return f"{n} ngày"


def _deadline_texts(deadline: datetime, lang: str) -> tuple[str, str]:
    d = deadline
    if lang == "en":
        return (f"{d:%H:%M} on {d.day} {MONTHS_EN[d.month - 1]} {d.year}",
                f"{d.day} {MONTHS_EN[d.month - 1][:3]} {d:%H:%M}")
    return f"{d:%H:%M} ngày {d:%d/%m/%Y}", f"{d:%H:%M} {d:%d/%m}"


def _today(now: datetime, lang: str) -> str:
    if lang == "en":
        return f"{now.day} {MONTHS_EN[now.month - 1]} {now.year}"
    return f"{now:%d/%m/%Y}"


def reminder_values(*, unit: Mapping[str, Any], campaign: Campaign, stage: Stage,
                    now: datetime, lang: str) -> ReminderValues:
    tz = campaign.tz
    left = days_left(campaign.deadline, now, tz)
    long, short = _deadline_texts(campaign.deadline.astimezone(tz), lang)
    movement_name, organiser = _movement_texts(campaign.movement, lang)
    return {
        "unit_name": unit_name(unit, lang), "unit_id": unit["_id"], "period": campaign.period,
        "deadline": long, "deadline_short": short, "stage": stage.name,
        "days_left": max(left, 0), "days_left_text": _days(max(left, 0), lang),
        "days_overdue": max(-left, 0), "days_overdue_text": _days(max(-left, 0), lang),
        "today": _today(now.astimezone(tz), lang),
        "movement_name": movement_name, "organiser": organiser,
    }


def _movement_texts(movement: str, lang: str) -> tuple[str, str]:
    """The movement the reminder is about and who reads its reports (issue 14)."""
    m = movements.MOVEMENTS.get(movement) or movements.MOVEMENTS[movements.DEFAULT]
    if lang == "en":
        return m.name_en, m.organiser_en
    return m.name, m.organiser


def digest_values(*, recipient: Mapping[str, Any], units: list[Mapping[str, Any]],
                  campaign: Campaign, stage: Stage, now: datetime, lang: str
                  ) -> DigestValues:
    values = reminder_values(unit=recipient, campaign=campaign, stage=stage, now=now,
                             lang=lang)
    lines = [f"- {unit_name(u, lang)} ({u['_id']})" for u in units]
    return {**values, "recipient_name": values["unit_name"], "count": len(units),
            "unit_lines": "\n".join(lines)}
