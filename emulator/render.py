"""JSON shapes of results (contract §4.4 ResultObject), built only when ``/results`` asks."""

from __future__ import annotations

from typing import Any

import numpy as np

from emulator.analytics.calendar import FloatArray, iso, period_start
from emulator.analytics.replenishment import Plan
from emulator.work import Prediction


def _finite(values: FloatArray) -> list[float]:
    return [float(v) for v in np.nan_to_num(values, nan=0.0, posinf=1e300, neginf=-1e300)]


def suggestions(plan: Plan) -> dict[str, Any]:
    """The three Suggestion objects of a plan."""
    start, end = iso(np.array([plan.start_day, plan.end_day], dtype=np.int64))
    interval = {"startDate": start, "endDate": end}
    return {
        "safetyStockSuggestion": {"quantity": plan.safety_stock, "validDateInterval": interval},
        "reorderPointSuggestion": {"quantity": plan.reorder_point, "validDateInterval": interval},
        "replenishmentSuggestion": {"quantity": plan.replenishment, "validDateInterval": interval},
    }


def result_object(p: Prediction) -> dict[str, Any]:
    """One ResultObject."""
    hist, fc = p.history, p.forecast
    freq = hist.freq
    past = iso(period_start(hist.first_period + np.arange(hist.values.size), freq))
    ahead = iso(period_start(hist.current_period + np.arange(fc.quantity.size), freq))
    columns = zip(
        ahead,
        _finite(fc.quantity),
        _finite(fc.season),
        _finite(fc.trend),
        _finite(fc.noise),
        _finite(fc.lower),
        _finite(fc.upper),
        strict=True,
    )
    forecast = [
        {
            "date": date,
            "predictedQuantity": q,
            "predictedSeason": s,
            "predictedTrend": t,
            "predictedNoise": e,
            "lowerQuantity": lo,
            "upperQuantity": hi,
        }
        for date, q, s, t, e, lo, hi in columns
    ]
    return {
        "datasetId": p.dataset_id,
        "supplierId": p.supplier_id,
        **suggestions(p.plan),
        "forecast": forecast,
        "historicalData": [
            {"date": d, "quantity": q} for d, q in zip(past, _finite(hist.values), strict=True)
        ],
    }
