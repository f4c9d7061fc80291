"""Time as integer UTC milliseconds: month boundaries, fiscal years and ISO-8601 text.

The simulator keeps every instant as epoch milliseconds (cheap to add, compare and store)
and turns it into text only when an event is emitted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
YEAR = 365 * DAY

_EPOCH_DATE = date(1970, 1, 1)
_day_prefix: dict[int, str] = {}
_HMS = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}." for s in range(86_400)]
_MILLIS = [f"{m:03d}Z" for m in range(1000)]


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give a UTC-aware one")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def month_start_ms(year: int, month: int) -> int:
    return to_ms(datetime(year, month, 1, tzinfo=UTC))


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def fiscal_months(fy: int) -> list[tuple[int, int]]:
    """(year, month) of October of fy-1 through September of fy."""
    months = [(fy - 1, m) for m in (10, 11, 12)]
    return months + [(fy, m) for m in range(1, 10)]


def fiscal_year(year: int, month: int) -> int:
    return year + 1 if month >= 10 else year


def iso(ms: int) -> str:
    """``2021-03-04T05:06:07.089Z``: UTC, millisecond precision."""
    day = ms // DAY
    prefix = _day_prefix.get(day)
    if prefix is None:
        prefix = _day_prefix[day] = (_EPOCH_DATE + timedelta(days=day)).isoformat() + "T"
    second = ms // 1000
    return prefix + _HMS[second - day * 86_400] + _MILLIS[ms - second * 1000]


def iso_date(ms: int) -> str:
    return (_EPOCH_DATE + timedelta(days=ms // DAY)).isoformat()
