"""Campaigns as data: the defaults file, an operator's overrides, and the stored form.
Pure apart from reading the defaults file once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from services.common.errors import Refusal, Refused
from services.common.inputs import in_platform_range
from services.notifications.domain import (
    CHANNELS,
    MOVEMENT_MARK,
    Audience,
    Campaign,
    Escalation,
    QuietHours,
    Stage,
)
from services.notifications.models import CampaignSpec, StoredCampaign

DEFAULTS_FILE = Path(__file__).resolve().parent / "campaign_defaults.yaml"


class CampaignInvalid(Refused, ValueError):
    """An operator's campaign settings that cannot work; the message says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(Refusal.INVALID, "invalid-campaign", detail)


def load_defaults(path: Path = DEFAULTS_FILE) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise CampaignInvalid(f"{path} is not a mapping")
    build_campaign(2000, doc)  # fail at start-up, not at the first reminder
    return doc


def _time(value: Any, what: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise CampaignInvalid(f"{what}: {value!r} is not a time (HH:MM)") from exc


def _deadline(period: int, spec: Any, tz: ZoneInfo) -> datetime:
    deadline = _deadline_as_given(period, spec, tz)
    # Near year 1 or 9999 a stage's date overflows; a stored one would stop every pass.
    try:
        in_platform_range(deadline)
    except ValueError as exc:
        raise CampaignInvalid(f"deadline: {exc}") from exc
    return deadline


def _deadline_as_given(period: int, spec: Any, tz: ZoneInfo) -> datetime:
    if isinstance(spec, datetime):
        if spec.tzinfo is None:
            raise CampaignInvalid("deadline: needs a timezone offset")
        return spec
    if isinstance(spec, str):
        try:
            parsed = datetime.fromisoformat(spec)
        except ValueError as exc:
            raise CampaignInvalid(f"deadline: {spec!r} is not an ISO date-time") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    spec = dict(spec or {})
    try:
        day = date(period, int(spec.get("month", 11)), int(spec.get("day", 30)))
    except ValueError as exc:
        raise CampaignInvalid(f"deadline: {exc}") from exc
    return datetime.combine(day, _time(spec.get("time", "23:59:59"), "deadline.time"),
                            tzinfo=tz)


def _stages(raw: Any) -> tuple[Stage, ...]:
    if not raw:
        raise CampaignInvalid("stages: at least one stage is needed")
    stages = []
    for i, s in enumerate(raw):
        try:
            name = str(s["name"])
            stage = Stage(name=name, days=int(s["days"]), hour=int(s.get("hour", 9)),
                          minute=int(s.get("minute", 0)),
                          escalate=bool(s.get("escalate", int(s["days"]) > 0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise CampaignInvalid(f"stages/{i}: needs name, days and hour ({exc})") from exc
        if not (0 <= stage.hour <= 23 and 0 <= stage.minute <= 59):
            raise CampaignInvalid(f"stages/{i}: hour 0-23 and minute 0-59")
        if (not name or "|" in name or MOVEMENT_MARK in name or name.endswith("-digest")
                or len(name) > 40):
            raise CampaignInvalid(f"stages/{i}: name {name!r} is not usable")
        stages.append(stage)
    if len({s.name for s in stages}) != len(stages):
        raise CampaignInvalid("stages: names must be unique")
    if len({(s.days, s.hour, s.minute) for s in stages}) != len(stages):
        raise CampaignInvalid("stages: two stages at the same time")
    return tuple(stages)


def build_campaign(period: int, spec: Mapping[str, Any], *, paused: bool = False
                   ) -> Campaign:
    """A campaign from a spec (the defaults file's shape, or a stored document)."""
    tz_name = str(spec.get("timezone") or "Asia/Ho_Chi_Minh")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CampaignInvalid(f"timezone: unknown zone {tz_name!r}") from exc
    channels = tuple(spec.get("channels") or CHANNELS)
    if not channels or any(c not in CHANNELS for c in channels):
        raise CampaignInvalid(f"channels: choose from {', '.join(CHANNELS)}")
    quiet = spec.get("quiet_hours")
    audience = spec.get("audience") or {}
    esc = spec.get("escalation") or {}
    catch_up = float(spec.get("catch_up_hours", 72))
    if catch_up <= 0:
        raise CampaignInvalid("catch_up_hours: must be positive")
    return Campaign(
        period=period, deadline=_deadline(period, spec.get("deadline"), tz), timezone=tz_name,
        stages=_stages(spec.get("stages")), channels=channels,
        quiet_hours=QuietHours(_time(quiet["start"], "quiet_hours.start"),
                               _time(quiet["end"], "quiet_hours.end")) if quiet else None,
        audience=Audience(unit_ids=tuple(audience.get("unit_ids") or ()),
                          unit_types=tuple(audience.get("unit_types") or ())),
        escalation=Escalation(
            national=tuple(esc.get("national", Escalation.national)),
            cluster_heads=bool(esc.get("cluster_heads", True)),
            supervisors=bool(esc.get("supervisors", True))),
        catch_up_hours=catch_up, paused=bool(spec.get("paused", paused)),
    )


def campaign_spec(c: Campaign) -> CampaignSpec:
    """The stored (and API) form of a campaign; `build_campaign` reads it back."""
    return {
        "period": c.period, "deadline": c.deadline.isoformat(), "timezone": c.timezone,
        "stages": [{"name": s.name, "days": s.days, "hour": s.hour, "minute": s.minute,
                    "escalate": s.escalate} for s in c.stages],
        "channels": list(c.channels),
        "quiet_hours": {"start": c.quiet_hours.start.strftime("%H:%M"),
                        "end": c.quiet_hours.end.strftime("%H:%M")}
        if c.quiet_hours else None,
        "audience": {"unit_ids": list(c.audience.unit_ids),
                     "unit_types": list(c.audience.unit_types)},
        "escalation": {"national": list(c.escalation.national),
                       "cluster_heads": c.escalation.cluster_heads,
                       "supervisors": c.escalation.supervisors},
        "catch_up_hours": c.catch_up_hours, "paused": c.paused,
    }


def with_overrides(period: int, defaults: Mapping[str, Any], overrides: Mapping[str, Any]
                   ) -> Campaign:
    """The defaults with an operator's fields on top: `overrides` holds only the fields
    the operator gave (a null `quiet_hours` switches quiet hours off)."""
    return build_campaign(period, {**defaults, **overrides})


def default_campaign(period: int, defaults: Mapping[str, Any], now: datetime
                     ) -> StoredCampaign:
    """The period's campaign from the defaults file, as stored when nobody set one."""
    return {**campaign_spec(build_campaign(period, defaults)), "source": "defaults",
            "created_at": now}
