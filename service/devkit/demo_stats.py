"""Statistics the demo computes from the sample data itself, to set beside the API's answers.

Standard library only. Periods follow the IO API's calendar (io-api-contract.md; the emulator's
``analytics/calendar.py``): a day is its own period, weeks are ISO weeks starting on Monday,
months are calendar months, and a period is named by the date of its first day.

Demand type follows Syntetos, Boylan & Croston (2005) on weekly buckets: ADI = buckets /
non-zero buckets, CV² = squared coefficient of variation (population standard deviation) of the
non-zero bucket sizes; ADI 1.32 and CV² 0.49 split smooth, erratic, intermittent and lumpy.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from service.devkit.sample_model import Dataset

ADI_CUT, CV2_CUT = 1.32, 0.49
A_SHARE, B_SHARE = 0.80, 0.95


@dataclass(frozen=True, slots=True)
class Intermittency:
    """ADI and CV² of one demand series, and the Syntetos–Boylan class they imply."""

    adi: float
    cv2: float

    @property
    def demand_type(self) -> str:
        if self.adi < ADI_CUT:
            return "smooth" if self.cv2 < CV2_CUT else "erratic"
        return "intermittent" if self.cv2 < CV2_CUT else "lumpy"


def period_start(day: dt.date, frequency: str) -> dt.date:
    """The first day of the D, W (ISO, Monday) or M period that contains ``day``."""
    if frequency == "D":
        return day
    if frequency == "W":
        return day - dt.timedelta(days=day.weekday())
    if frequency == "M":
        return day.replace(day=1)
    raise ValueError(f"unknown frequency {frequency!r}")


def next_period(start: dt.date, frequency: str) -> dt.date:
    """The first day of the period after the one starting on ``start``."""
    if frequency == "D":
        return start + dt.timedelta(days=1)
    if frequency == "W":
        return start + dt.timedelta(days=7)
    month = start.month % 12 + 1
    return start.replace(year=start.year + (start.month == 12), month=month, day=1)


def buckets(
    daily: Sequence[float], first: dt.date, frequency: str, *, trim: bool = True
) -> list[tuple[dt.date, float]]:
    """Sums of a daily series (``daily[0]`` is ``first``) per period, oldest first.

    With ``trim``, a partial first or last period is dropped while at least two whole ones
    remain (the emulator's rule, so the numbers compare).
    """
    sums: dict[dt.date, float] = {}
    for i, quantity in enumerate(daily):
        start = period_start(first + dt.timedelta(days=i), frequency)
        sums[start] = sums.get(start, 0.0) + quantity
    rows = sorted(sums.items())
    if not trim or not rows:
        return rows
    last = first + dt.timedelta(days=len(daily) - 1)
    head = int(rows[0][0] != first)
    tail = int(next_period(rows[-1][0], frequency) - dt.timedelta(days=1) != last)
    trimmed = rows[head : len(rows) - tail]
    return trimmed if len(trimmed) >= 2 else rows


def intermittency(sizes: Sequence[float]) -> Intermittency | None:
    """ADI and CV² of bucketed demand; None when no bucket has demand."""
    nonzero = [s for s in sizes if s > 0]
    if not nonzero:
        return None
    mean = statistics.fmean(nonzero)
    return Intermittency(len(sizes) / len(nonzero), (statistics.pstdev(nonzero) / mean) ** 2)


def sales_window(datasets: Iterable[Dataset]) -> tuple[dt.date, dt.date] | None:
    """First and last sale day over the datasets (the classification's default range)."""
    days = [t.departure_date for d in datasets for t in (d.transactions[:1] + d.transactions[-1:])]
    return (min(days), max(days)) if days else None


def dataset_intermittency(
    dataset: Dataset, window: tuple[dt.date, dt.date]
) -> Intermittency | None:
    """ADI/CV² of one dataset's weekly demand over ``window`` (inclusive)."""
    first, last = window
    weekly = buckets(dataset.daily_quantities(first, last), first, "W")
    return intermittency([q for _, q in weekly])


def history(
    dataset: Dataset, frequency: str, end: dt.date | None = None
) -> list[tuple[dt.date, float]]:
    """The dataset's sales per period of ``frequency`` from its first sale to ``end`` (default:
    its last sale), whole periods only."""
    if not dataset.transactions:
        return []
    first = dataset.transactions[0].departure_date
    last = max(end or first, dataset.transactions[-1].departure_date)
    return buckets(dataset.daily_quantities(first, last), first, frequency)


def revenue(dataset: Dataset) -> float:
    """Σ quantity × unit price (the ABC driver ``revenue``); 0 without price data."""
    return dataset.revenue


def pareto(totals: dict[str, float]) -> list[tuple[str, float, float]]:
    """``(id, total, cumulative share after it)`` sorted by total descending, ties by id."""
    grand = sum(max(v, 0.0) for v in totals.values())
    rows, running = [], 0.0
    for key, value in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        running += max(value, 0.0)
        rows.append((key, value, running / grand if grand > 0 else 1.0))
    return rows
