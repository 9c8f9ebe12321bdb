"""What an inventory-classification job computes over a tenant's datasets (contract §1.4, §4.6).

The date range defaults to the first through the last sale of the requested datasets. Per
dataset the driver total counts only the transactions that carry what the driver needs: a
``unitPrice`` for revenue, a ``unitPrice`` and ``unitCost`` for margin. A dataset with no data,
no sales in the range, or (for revenue/margin) no priced sales fails with that message; the
ABC ranking covers the datasets that did not fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from emulator.analytics import classification
from emulator.analytics.calendar import (
    FloatArray,
    Freq,
    IntArray,
    date_of,
    period_of,
    period_start_day,
)
from emulator.requests import ClassifyRequest
from emulator.store import Dataset
from emulator.work import FORCED, Outcome, matches

NEEDS = {"revenue": "unitPrice", "margin": "unitPrice and unitCost"}


def window(datasets: Mapping[str, Dataset | None], request: ClassifyRequest) -> tuple[int, int]:
    """The date range (inclusive day numbers) the classification looks at."""
    start, end = request.window()
    stored = [d for d in datasets.values() if d is not None]
    if start is None:
        start = min((d.first_day for d in stored), default=0)
    if end is None:
        end = max((d.last_day for d in stored), default=start)
    return start, end


def driver_total(dataset: Dataset, driver: str, first: int, last: int) -> float:
    """Σ over the range of quantity (× price, or × price − cost); NaN when nothing qualifies."""
    rows = dataset.rows
    mask = (rows.days >= first) & (rows.days <= last)
    value = rows.quantity
    if driver == "revenue":
        mask &= ~np.isnan(rows.price)
        value = rows.quantity * rows.price
    elif driver == "margin":
        mask &= ~np.isnan(rows.price) & ~np.isnan(rows.cost)
        value = rows.quantity * (rows.price - rows.cost)
    return float(value[mask].sum()) if mask.any() else float("nan")


def _buckets(days: IntArray, daily: FloatArray, freq: Freq) -> FloatArray:
    """Sums per week or month, without a partial first or last bucket when two whole remain."""
    periods = period_of(days, freq)
    sums = np.bincount(periods - periods[0], weights=daily).astype(np.float64)
    head = int(period_start_day(int(periods[0]), freq) != days[0])
    tail = int(period_start_day(int(periods[-1]) + 1, freq) - 1 != days[-1])
    trimmed = sums[head : sums.size - tail]
    return trimmed if trimmed.size >= 2 else sums


def profile(dataset: Dataset, first: int, last: int) -> dict[str, Any] | None:
    """Seasonality, trend and demand type of one dataset over the range; None without sales."""
    days = np.arange(first, last + 1, dtype=np.int64)
    daily = np.zeros(days.size)
    lo, hi = max(first, dataset.first_day), min(last, dataset.last_day)
    if hi >= lo:
        daily[lo - first : hi - first + 1] = dataset.daily[
            lo - dataset.first_day : hi - dataset.first_day + 1
        ]
    if not np.any(daily > 0):
        return None
    weekly, monthly = _buckets(days, daily, "W"), _buckets(days, daily, "M")
    found = classification.seasonalities(daily, monthly)
    return {
        "isSeasonal": bool(found),
        "seasonalities": found,
        "demandType": classification.demand_type(weekly if np.any(weekly > 0) else daily),
        "trend": classification.trend(weekly),
    }


def classify(
    datasets: Mapping[str, Dataset | None], request: ClassifyRequest, fail: Sequence[str]
) -> tuple[dict[str, Outcome], list[dict[str, Any]]]:
    """Every requested dataset's outcome, and the result items of those that succeeded."""
    first, last = window(datasets, request)
    span = f"between {date_of(first)} and {date_of(last)}"
    outcomes: dict[str, Outcome] = {}
    profiles: dict[str, dict[str, Any]] = {}
    totals: dict[str, float] = {}
    for dataset_id, dataset in datasets.items():
        if matches(dataset_id, fail):
            outcomes[dataset_id] = FORCED
            continue
        found = None if dataset is None else profile(dataset, first, last)
        total = (
            float("nan") if dataset is None else driver_total(dataset, request.driver, first, last)
        )
        if dataset is None:
            outcomes[dataset_id] = Outcome("failed", "no data uploaded for this dataset")
        elif found is None:
            outcomes[dataset_id] = Outcome("failed", f"no sales {span}")
        elif np.isnan(total):
            need = NEEDS[request.driver]
            outcomes[dataset_id] = Outcome(
                "failed", f"the {request.driver} driver needs {need} on the sales {span}"
            )
        else:
            profiles[dataset_id], totals[dataset_id] = found, total
    ids = sorted(profiles)
    categories = classification.abc(ids, np.array([totals[i] for i in ids], dtype=np.float64))
    results = []
    for dataset_id in ids:
        outcomes[dataset_id] = Outcome("success", f"classified on the sales {span}")
        item = {"datasetId": dataset_id, "abcCategory": categories[dataset_id]}
        results.append(item | profiles[dataset_id])
    return outcomes, results
