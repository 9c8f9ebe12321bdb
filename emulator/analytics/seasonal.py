"""Seasonal indices, the seasonal naive method and the seasonality test.

- Seasonal indices: classical additive decomposition — a centred moving average of order ``m``
  (2×m for even ``m``) estimates the trend, the indices are the mean detrended value of each
  phase, centred to sum to zero (Hyndman & Athanasopoulos, FPP3 §3.4).
- Seasonal naive: each step repeats the value one season earlier (FPP3 §5.2).
- Seasonality test: the lag-``m`` autocorrelation of the linearly detrended series is compared
  with 1.645·sqrt((1 + 2 Σ_{k<m} r_k²)/n), Bartlett's standard error at 90 % one-sided — the test
  of ``forecast::thetaf`` and of the M4 benchmark code (Assimakopoulos & Nikolopoulos 2000).
"""

from __future__ import annotations

import numpy as np

from emulator.analytics.calendar import FloatArray, IntArray

_Z90 = 1.645


def indices(series: FloatArray, phase0: int, season: int) -> FloatArray | None:
    """Additive seasonal index of each phase ``(phase0 + t) % season``; None if < 2 seasons."""
    n = series.size
    if season < 2 or n < 2 * season:
        return None
    weights = np.ones(season + (season + 1) % 2)
    if season % 2 == 0:
        weights[0] = weights[-1] = 0.5
    weights /= season
    trend = np.convolve(series, weights, mode="valid")
    offset = (weights.size - 1) // 2
    detrended = series[offset : offset + trend.size] - trend
    phases = (phase0 + offset + np.arange(trend.size)) % season
    sums = np.bincount(phases, weights=detrended, minlength=season)
    counts = np.bincount(phases, minlength=season)
    if np.any(counts == 0):
        return None
    means: FloatArray = sums / counts
    centred: FloatArray = means - means.mean()
    return centred


def naive_at(series: FloatArray, origins: IntArray, season: int, steps: int) -> FloatArray:
    """(R, steps) seasonal naive forecasts from each origin (each origin ≥ ``season``)."""
    lag = origins[:, None] - season + (np.arange(steps) % season)[None, :]
    repeated: FloatArray = series[lag]
    return repeated


def autocorrelations(series: FloatArray, max_lag: int) -> FloatArray:
    """Sample autocorrelations r_1..r_max_lag (r_k = 0 when the series is constant)."""
    centred = series - series.mean()
    denom = float(centred @ centred)
    if denom <= 0.0:
        return np.zeros(max_lag)
    return np.array([centred[k:] @ centred[:-k] / denom for k in range(1, max_lag + 1)])


def detrend(series: FloatArray) -> FloatArray:
    """The residual of an ordinary least-squares line through the series."""
    t = np.arange(series.size, dtype=np.float64)
    slope, intercept = np.polyfit(t, series, 1)
    residual: FloatArray = series - (slope * t + intercept)
    return residual


def is_seasonal(series: FloatArray, season: int, cycles: int = 2) -> bool:
    """Whether the series has a significant positive lag-``season`` autocorrelation."""
    n = series.size
    if season < 2 or n < cycles * season + 1:
        return False
    r = autocorrelations(detrend(series), season)
    limit = _Z90 * np.sqrt((1 + 2 * np.sum(r[: season - 1] ** 2)) / n)
    return bool(r[season - 1] > limit)
