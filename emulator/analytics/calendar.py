"""Day numbers and D/W/M periods.

Dates are integer day numbers (days since 1970-01-01, the ``datetime64[D]`` epoch). Periods are
integer indices: a day is its own period, weeks are ISO weeks starting on Monday, months are
calendar months. A period is named by the date of its first day (``forecast[].date``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

import numpy as np
import numpy.typing as npt

Freq = Literal["D", "W", "M"]
FREQS: tuple[Freq, ...] = ("D", "W", "M")
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Mean Gregorian month (365.2425 / 12): converts "2 M" of lead time into days.
DAYS_PER_UNIT: dict[Freq, float] = {"D": 1.0, "W": 7.0, "M": 30.436875}
# Season length of each granularity: a week of days, a year of weeks or of months.
SEASON: dict[Freq, int] = {"D": 7, "W": 52, "M": 12}
_EPOCH = dt.date(1970, 1, 1)
# 1970-01-01 was a Thursday: shifting by 3 puts Monday at 0.
_MONDAY_SHIFT = 3
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]*(?:Z|[+-]\d{2}:?\d{2})?)?")


def day_of(date: dt.date) -> int:
    """Day number of a date."""
    return (date - _EPOCH).days


def date_of(day: int) -> dt.date:
    """Date of a day number."""
    return _EPOCH + dt.timedelta(days=int(day))


def parse_day(text: object) -> int | None:
    """Day number of ``YYYY-MM-DD`` (an ISO time part is tolerated and dropped), else None."""
    if not isinstance(text, str):
        return None
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    try:
        return day_of(dt.date(int(match[1]), int(match[2]), int(match[3])))
    except ValueError:
        return None


def iso(days: IntArray) -> list[str]:
    """``YYYY-MM-DD`` strings of day numbers."""
    return [str(s) for s in np.datetime_as_string(days.astype("datetime64[D]"), unit="D")]


def period_of(days: IntArray, freq: Freq) -> IntArray:
    """Period index of each day number."""
    if freq == "D":
        return days.astype(np.int64, copy=False)
    if freq == "W":
        return (days + _MONDAY_SHIFT) // 7
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return months.astype(np.int64)


def period_start(periods: IntArray, freq: Freq) -> IntArray:
    """First day number of each period index."""
    if freq == "D":
        return periods.astype(np.int64, copy=False)
    if freq == "W":
        return periods * 7 - _MONDAY_SHIFT
    return periods.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def period_of_day(day: int, freq: Freq) -> int:
    """Period index of one day number."""
    return int(period_of(np.array([day], dtype=np.int64), freq)[0])


def period_start_day(period: int, freq: Freq) -> int:
    """First day number of one period index."""
    return int(period_start(np.array([period], dtype=np.int64), freq)[0])
