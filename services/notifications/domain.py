"""Campaign rules as plain functions: the deadline and who is still missing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def campaign_deadline(period: int, override: datetime | None = None) -> datetime:
    """The campaign's cutoff: 30 November 23:59:59 Hanoi time unless the campaign sets one."""
    return override or datetime.combine(date(period, 11, 30), time(23, 59, 59), tzinfo=VN_TZ)


@dataclass(frozen=True)
class DeadlineStatus:
    period: int
    deadline: datetime
    expected: int
    submitted: int
    on_time: int
    late: int
    missing: list[str]


def deadline_status(period: int, deadline: datetime, expected: list[str],
                    submitted_on_time: dict[str, bool]) -> DeadlineStatus:
    """`submitted_on_time` maps each unit that reported to whether its first report was
    on time; units outside `expected` (not in that year's registry) are not counted."""
    expected_set = set(expected)
    reported = {u: ok for u, ok in submitted_on_time.items() if u in expected_set}
    on_time = sum(1 for ok in reported.values() if ok)
    return DeadlineStatus(
        period=period, deadline=deadline, expected=len(expected_set), submitted=len(reported),
        on_time=on_time, late=len(reported) - on_time,
        missing=sorted(expected_set - reported.keys()),
    )
