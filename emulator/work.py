"""What validation, training and prediction jobs compute, one dataset at a time.

Pure functions of immutable inputs (store snapshots, parsed requests, ``today``), run in worker
threads. A dataset's problem becomes its :class:`Outcome`; it never stops the other datasets.

History rules (contract §1.3): the series is the dataset's daily sales summed per period from
its first transaction (or ``startDate``) to the last *complete* period before the current one;
days without sales — including the gap up to today — are zero. The current period is forecast
as step 1 and never below what it has sold up to today. Sales dated after today are ignored.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from emulator.analytics import replenishment
from emulator.analytics.calendar import (
    DAYS_PER_UNIT,
    SEASON,
    FloatArray,
    Freq,
    date_of,
    period_of,
    period_of_day,
    period_start,
)
from emulator.analytics.forecasting import Forecast, forecast
from emulator.analytics.selection import MIN_TRAIN, Choice, select
from emulator.requests import Duration, PredictItem, TrainItem
from emulator.store import Dataset, Transactions
from emulator.validation import InvalidDatasetError, transactions

# At most this many periods are modelled (the most recent ones): three years of days.
MAX_PERIODS: dict[Freq, int] = {"D": 1096, "W": 260, "M": 120}


@dataclass(frozen=True)
class Outcome:
    """One ``datasetsStatus`` entry's status and message."""

    status: Literal["inProgress", "success", "failed", "invalid"]
    message: str


T = TypeVar("T")
log = logging.getLogger("emulator.work")


def safely(dataset_id: str, compute: Callable[[], T]) -> T | Outcome:
    """``compute()``, or the dataset's failed outcome: a dataset never fails the others.

    ``ValueError`` carries the reason for the dataset's message; anything else is a bug,
    logged and reported as an internal error of that dataset only.
    """
    try:
        return compute()
    except ValueError as exc:
        return Outcome("failed", str(exc))
    except Exception:
        log.exception("dataset %s crashed", dataset_id)
        return Outcome("failed", "internal error in the emulator")


FORCED = Outcome("failed", "forced failure: the dataset matches the emulator's fail_datasets")


def matches(dataset_id: str, patterns: Iterable[str]) -> bool:
    """Whether a dataset id matches any glob pattern (``fnmatch``, case-sensitive)."""
    return any(fnmatch.fnmatchcase(dataset_id, p) for p in patterns)


@dataclass(frozen=True)
class History:
    """Complete periods of a dataset at one granularity, and the current period's sales."""

    freq: Freq
    first_period: int
    values: FloatArray
    current_period: int
    recorded: float


@dataclass(frozen=True)
class TrainedModel:
    """What training keeps per dataset (contract §1.2: reused by predictions)."""

    frequency: Freq
    horizon: int
    start_day: int | None
    choice: Choice
    periods: int


@dataclass(frozen=True)
class Prediction:
    """A ResultObject in compact form; rendered to JSON only when ``/results`` asks."""

    dataset_id: str
    supplier_id: str
    history: History
    forecast: Forecast
    plan: replenishment.Plan


def history(dataset: Dataset, freq: Freq, now: int, start: int | None) -> History:
    """Periods before the one containing day ``now``, from ``start`` (or the first sale)."""
    first_day = dataset.first_day if start is None else max(dataset.first_day, start)
    first = period_of_day(first_day, freq)
    current = period_of_day(now, freq)
    sums = np.zeros(max(current - first + 1, 1))
    last_day = min(dataset.last_day, now)
    if last_day >= first_day and current >= first:
        days = np.arange(first_day, last_day + 1, dtype=np.int64)
        seg = dataset.daily[first_day - dataset.first_day : last_day - dataset.first_day + 1]
        periods = period_of(days, freq) - first
        sums = np.bincount(periods, weights=seg, minlength=sums.size).astype(np.float64)
    values = sums[: max(current - first, 0)]
    keep = min(values.size, MAX_PERIODS[freq])
    recorded = float(sums[current - first]) if current >= first else 0.0
    return History(freq, current - keep, values[values.size - keep :], current, recorded)


def validate(raw: dict[str, list[Any]], fail: Sequence[str]) -> dict[str, Outcome | Transactions]:
    """Each dataset's validated transactions, or its ``invalid``/forced outcome."""
    result: dict[str, Outcome | Transactions] = {}
    for dataset_id, parts in raw.items():
        if matches(dataset_id, fail):
            result[dataset_id] = FORCED
            continue
        try:
            result[dataset_id] = Transactions.concat(transactions(p) for p in parts)
        except InvalidDatasetError as exc:
            result[dataset_id] = Outcome("invalid", str(exc))
    return result


def train(dataset: Dataset | None, item: TrainItem, today: int, min_periods: int) -> TrainedModel:
    """Select the best model of one dataset; raises ``ValueError`` with the reason it cannot."""
    if dataset is None:
        raise ValueError("no data uploaded for this dataset")
    now = today if item.end_day is None else min(today, item.end_day + 1)
    hist = history(dataset, item.frequency, now, item.start_day)
    needed = max(min_periods, MIN_TRAIN + 1)
    if hist.values.size < needed:
        raise ValueError(
            f"not enough history: {hist.values.size} complete {item.frequency} period(s) "
            f"before {date_of(now)}, need at least {needed}"
        )
    choice = select(hist.values, hist.first_period, SEASON[item.frequency], item.horizon)
    return TrainedModel(item.frequency, item.horizon, item.start_day, choice, hist.values.size)


def train_message(model: TrainedModel) -> str:
    """The success message of a trained dataset."""
    c = model.choice
    return (
        f"trained on {model.periods} {model.frequency} periods; kept {c.name} of "
        f"{c.candidates} candidates (backtest RMSE {c.rmse:.4g}, naive {c.naive_mse**0.5:.4g})"
    )


def days_of(duration: Duration | None, default_freq: Freq, default: float) -> float:
    if duration is None:
        return default * DAYS_PER_UNIT[default_freq]
    return duration.value * DAYS_PER_UNIT[duration.granularity]


def predict(
    dataset_id: str,
    dataset: Dataset | None,
    model: TrainedModel | None,
    item: PredictItem,
    today: int,
) -> Prediction:
    """Forecast and PO suggestions of one dataset; raises ``ValueError`` when it cannot."""
    if model is None:
        raise ValueError("no trained model for this dataset; run start_trainer first")
    if dataset is None:
        raise ValueError("no data stored for this dataset")
    freq = model.frequency
    hist = history(dataset, freq, today, model.start_day)
    if hist.values.size < MIN_TRAIN + 1:
        raise ValueError(f"not enough history left: {hist.values.size} complete {freq} periods")
    fc = forecast(hist.values, hist.first_period, model.choice, model.horizon, hist.recorded)
    periods = hist.current_period + np.arange(model.horizon + 1, dtype=np.int64)
    bounds = period_start(periods, freq)
    demand = replenishment.remaining_demand(
        bounds[:-1], bounds[1:], fc.quantity, today, hist.recorded
    )
    plan = replenishment.plan(
        demand,
        today,
        sigma_per_step=model.choice.rmse,
        step_days=DAYS_PER_UNIT[freq],
        service_level=item.service_level,
        inventory=item.inventory,
        review_days=days_of(item.review, freq, 1.0),
        lead_days=days_of(item.lead(), freq, 0.0),
    )
    supplier = item.the_supplier().supplier_id or ""
    return Prediction(dataset_id, supplier, hist, fc, plan)
