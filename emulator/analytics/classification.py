"""Inventory classification: ABC by driver share, demand type, seasonality and trend.

None of the thresholds is published by Visma (contract §1.7, §7.8); these are the common
conventions:

- ABC (Pareto analysis): items sorted by their driver total (revenue = Σ qty·unitPrice,
  quantity = Σ qty, margin = Σ qty·(unitPrice − unitCost), negative totals count as 0); an item
  is A while the cumulative share *before* it is < 80 %, B while < 95 %, else C. Ties break by
  datasetId. Items with a zero total are C.
- Demand type (Syntetos, Boylan & Croston 2005) on weekly buckets: ADI = buckets / non-zero
  buckets, CV² = squared coefficient of variation of the non-zero sizes; smooth (ADI < 1.32,
  CV² < 0.49), erratic (ADI < 1.32, CV² ≥ 0.49), intermittent (ADI ≥ 1.32, CV² < 0.49),
  lumpy (ADI ≥ 1.32, CV² ≥ 0.49).
- Seasonality: the lag-m autocorrelation test of :mod:`seasonal` — ``weekly`` on the daily
  series (m = 7), ``yearly`` on monthly totals (m = 12, needs two years).
- Trend: Mann–Kendall test (Mann 1945; Kendall 1975) with tie correction on weekly totals,
  two-sided 5 %: ``increasing``, ``decreasing`` or ``none``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from emulator.analytics import seasonal
from emulator.analytics.calendar import FloatArray

Category = Literal["A", "B", "C"]
A_SHARE, B_SHARE = 0.80, 0.95
ADI_CUT, CV2_CUT = 1.32, 0.49
_Z975 = 1.959963984540054


def abc(ids: Sequence[str], totals: FloatArray) -> dict[str, Category]:
    """ABC category of each id from its driver total."""
    values = np.maximum(np.nan_to_num(totals, nan=0.0), 0.0)
    order = sorted(range(len(ids)), key=lambda i: (-values[i], ids[i]))
    grand = float(values.sum())
    result: dict[str, Category] = {}
    before = 0.0
    for i in order:
        share = before / grand if grand > 0 else 1.0
        if values[i] <= 0:
            result[ids[i]] = "C"
        else:
            result[ids[i]] = "A" if share < A_SHARE else "B" if share < B_SHARE else "C"
        before += float(values[i])
    return result


def demand_type(buckets: FloatArray) -> str:
    """Syntetos–Boylan class of a bucketed demand series with at least one non-zero bucket."""
    sizes = buckets[buckets > 0]
    adi = buckets.size / sizes.size
    mean = float(sizes.mean())
    cv2 = float(sizes.std() / mean) ** 2
    if adi < ADI_CUT:
        return "smooth" if cv2 < CV2_CUT else "erratic"
    return "intermittent" if cv2 < CV2_CUT else "lumpy"


def seasonalities(daily: FloatArray, monthly: FloatArray) -> list[str]:
    """Names of the significant seasonal cycles: ``weekly`` and/or ``yearly``."""
    found = []
    if seasonal.is_seasonal(daily, 7, cycles=3):
        found.append("weekly")
    if seasonal.is_seasonal(monthly, 12, cycles=2):
        found.append("yearly")
    return found


def mann_kendall(series: FloatArray) -> float:
    """The Mann–Kendall Z statistic (0 for fewer than 3 values or no variance)."""
    n = series.size
    if n < 3:
        return 0.0
    upper = np.triu_indices(n, 1)
    s = float(np.sign(series[None, :] - series[:, None])[upper].sum())
    _, ties = np.unique(series, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18
    if var <= 0:
        return 0.0
    return (s - math.copysign(1.0, s)) / math.sqrt(var) if s else 0.0


def trend(weekly: FloatArray) -> str:
    """``increasing``/``decreasing`` when Mann–Kendall rejects no-trend at 5 %, else ``none``."""
    z = mann_kendall(weekly)
    if z > _Z975:
        return "increasing"
    if z < -_Z975:
        return "decreasing"
    return "none"
