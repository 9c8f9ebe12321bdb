"""Real-Time Prediction (contract §3.7; path and schema are the best reading of §7.6).

Synchronous: for each item, PO suggestions from the dataset's trained model and the planner
inputs. With a ``forecast`` list (the user's, possibly edited, ``{date, predictedQuantity}``
per period) the suggestions use those quantities — each covering its date's period at the
trained granularity, periods before the current one ignored — and the forecast is echoed;
without one, the model forecasts as in a prediction job. Items that cannot be answered are
listed in ``datasetsStatus`` and left out of ``results``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emulator.analytics import replenishment
from emulator.analytics.calendar import DAYS_PER_UNIT, iso, period_of, period_start
from emulator.render import result_object, suggestions
from emulator.requests import PredictItem
from emulator.store import Dataset
from emulator.work import Outcome, Prediction, TrainedModel, days_of, history, predict, safely


def _with_forecast(
    dataset: Dataset | None, model: TrainedModel | None, item: PredictItem, today: int
) -> dict[str, Any]:
    if model is None or dataset is None:
        raise ValueError("no trained model for this dataset; run start_trainer first")
    freq = model.frequency
    points = sorted(item.forecast or [], key=lambda p: p.day)
    periods = period_of(np.array([p.day for p in points], dtype=np.int64), freq)
    current = period_of(np.array([today], dtype=np.int64), freq)[0]
    keep = periods >= current
    if not keep.any():
        raise ValueError("forecast has no period from today on")
    starts = period_start(periods[keep], freq)
    ends = period_start(periods[keep] + 1, freq)
    quantities = np.array([p.quantity for p in points], dtype=np.float64)[keep]
    recorded = history(dataset, freq, today, model.start_day).recorded
    if periods[keep][0] != current:
        recorded, starts[0] = 0.0, max(int(starts[0]), today)
    demand = replenishment.remaining_demand(starts, ends, quantities, today, recorded)
    plan = replenishment.plan(
        demand,
        today,
        model.choice.rmse,
        DAYS_PER_UNIT[freq],
        item.service_level,
        item.inventory,
        days_of(item.review, freq, 1.0),
        days_of(item.lead(), freq, 0.0),
    )
    echoed = [
        {"date": d, "predictedQuantity": float(q)}
        for d, q in zip(iso(starts), quantities, strict=True)
    ]
    supplier = item.the_supplier().supplier_id or ""
    return {
        "datasetId": item.dataset_id,
        "supplierId": supplier,
        **suggestions(plan),
        "forecast": echoed,
    }


def _one(
    item: PredictItem, dataset: Dataset | None, model: TrainedModel | None, today: int
) -> dict[str, Any] | Outcome:
    if item.forecast is not None:
        return safely(item.dataset_id, lambda: _with_forecast(dataset, model, item, today))
    found = safely(item.dataset_id, lambda: predict(item.dataset_id, dataset, model, item, today))
    return result_object(found) if isinstance(found, Prediction) else found


def answer(
    data: dict[str, Dataset | None],
    models: dict[str, TrainedModel],
    items: list[PredictItem],
    today: int,
) -> dict[str, Any]:
    """The 200 body: ``results`` plus a ``datasetsStatus`` entry per item."""
    results: list[dict[str, Any]] = []
    statuses: list[dict[str, str]] = []
    for item in items:
        key = item.dataset_id
        value = _one(item, data[key], models.get(key), today)
        if isinstance(value, Outcome):
            statuses.append({"datasetId": key, "status": value.status, "message": value.message})
            continue
        results.append(value)
        statuses.append({"datasetId": key, "status": "success", "message": "suggestions computed"})
    return {
        "message": "Real-time prediction finished",
        "results": results,
        "datasetsStatus": statuses,
    }
