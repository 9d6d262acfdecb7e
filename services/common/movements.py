"""The two emulation movements of CONTRACT.md, and which one a unit belongs to.

An identifier table like `topics.py`: every service files a submission, score, reminder
and report under exactly one movement, and the unit id says which (its type prefix).

- `toan-dan`: "Toàn dân bảo vệ an ninh Tổ quốc", the all-people movement of the plan
  (seed 000): ministries, provinces' People's Committees, the Fatherland Front and its
  organisations, agencies, enterprises and individuals report to the Ministry of Public
  Security and the Ministry of Home Affairs, whose synthesis goes to the Prime Minister.
- `vi-an-ninh`: "Vì an ninh Tổ quốc", the People's Public Security forces' own movement
  (seed 004): the provincial police departments in the MPS emulation clusters, organised
  by the MPS Department of Party and Political Work.

Events written before movements existed carry none: they are read as the movement of
their unit's type (`movement_of`), which is what they were."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import Query

TOAN_DAN: Literal["toan-dan"] = "toan-dan"
VI_AN_NINH: Literal["vi-an-ninh"] = "vi-an-ninh"
# What an endpoint reporting on a movement shows without `movement=`.
DEFAULT: Literal["toan-dan"] = "toan-dan"


@dataclass(frozen=True)
class Movement:
    id: str
    name: str  # Vietnamese, as the seeds name it
    name_en: str
    unit_types: tuple[str, ...]
    organiser: str  # who reads its national report
    organiser_en: str
    # The units' deadline of a period, (month, day) at 23:59:59 Hanoi time: a labelled
    # platform default, which an operator may set per period (docs/submissions.md).
    deadline: tuple[int, int]
    deadline_source: str


MOVEMENTS: dict[str, Movement] = {
    TOAN_DAN: Movement(
        TOAN_DAN, "Toàn dân bảo vệ an ninh Tổ quốc", "All people protect national security",
        ("ministry", "province", "front", "organization", "individual"),
        "Bộ Công an và Bộ Nội vụ (Ban Thi đua - Khen thưởng Trung ương), tổng hợp báo cáo "
        "Thủ tướng Chính phủ",
        "Ministry of Public Security and Ministry of Home Affairs (Central Emulation and "
        "Reward Committee), for the Prime Minister",
        (11, 30), "platform default, configurable: the plan (seed 000) asks for the "
        "synthesis to reach the Prime Minister \"before 30 November\"; the platform reads "
        "it as the units' cutoff at the end of 30 November"),
    VI_AN_NINH: Movement(
        VI_AN_NINH, "Vì an ninh Tổ quốc", "For the Fatherland's security",
        ("police",),
        "Cục Công tác Đảng và công tác chính trị, Bộ Công an",
        "MPS Department of Party and Political Work",
        (11, 26), "platform default, configurable: seed 004 gives only the cluster "
        "conference's date (27 November); the police units' reports are due the day "
        "before it, so the conference ranks a closed season"),
}
IDS = tuple(MOVEMENTS)
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def default_deadline(period: int, movement: str = DEFAULT) -> datetime:
    """The movement's units' deadline of `period` when no operator set one: 23:59:59 Hanoi
    time of its labelled default day (30 November for `toan-dan`, 26 November for
    `vi-an-ninh`). The one definition every service uses."""
    month, day = MOVEMENTS[movement].deadline
    return datetime.combine(date(period, month, day), time(23, 59, 59), tzinfo=HANOI)
MovementId = Literal["toan-dan", "vi-an-ninh"]
# An endpoint that reports on a movement takes `movement=`, default `toan-dan` (CONTRACT.md).
MovementQuery = Annotated[MovementId, Query(
    description="the movement: toan-dan (the all-people movement, the synthesis for the "
                "Prime Minister) or vi-an-ninh (the police units in the MPS clusters)")]
_BY_TYPE = {t: m.id for m in MOVEMENTS.values() for t in m.unit_types}


def movement_of(unit: str) -> str:
    """The movement of a unit id (`police:phu-tho`) or a unit type (`police`)."""
    unit_type = unit.split(":", 1)[0]
    try:
        return _BY_TYPE[unit_type]
    except KeyError:
        raise ValueError(f"no movement takes units of type {unit_type!r}") from None


def mismatch(unit_id: str, movement: str | None) -> str | None:
    """Why `movement` cannot be the one of `unit_id`'s submission, or None if it can
    (an absent movement is the unit's own)."""
    if movement is None:
        return None
    own = movement_of(unit_id)
    if movement == own:
        return None
    if movement not in MOVEMENTS:
        return f"unknown movement {movement!r}: one of {', '.join(IDS)}"
    return (f"{unit_id} takes part in {own} ({MOVEMENTS[own].name}), not in {movement}: "
            f"{movement} takes units of type {', '.join(MOVEMENTS[movement].unit_types)}")


def of_event(data: Mapping[str, object], unit_id: str) -> str:
    """The movement an event's data is filed under: its own field (version 2 events),
    else the unit's (version 1 events, written before movements existed)."""
    movement = data.get("movement")
    if isinstance(movement, str) and movement in MOVEMENTS:
        return movement
    try:
        return movement_of(unit_id)
    except ValueError:  # a recipient that is no unit (an operator's address): the default
        return DEFAULT
