"""Forecast ``horizon`` steps with a kept model and decompose each step.

Decomposition (contract §4.4 ``predictedTrend``/``predictedSeason``/``predictedNoise``):
``trend`` is the model's non-seasonal path (level plus damped trend, or Croston's rate),
``season`` the additive seasonal index (zero for non-seasonal models; for seasonal naive the
repeated season minus its mean), and ``noise`` what the final quantity adds on top — the
clipping at zero and, in the current period, the floor at the sales already recorded
(contract §1.3). So ``quantity = trend + season + noise`` exactly.

Band: the kept model's 10 % / 90 % backtest error quantiles added to the forecast — an
empirical 80 % interval (FPP3 §5.5) — widened by √(h/H) past the backtest horizon ``H``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emulator.analytics import intermittent, seasonal, smoothing
from emulator.analytics.calendar import FloatArray
from emulator.analytics.selection import Choice


@dataclass(frozen=True)
class Forecast:
    """One array per ForecastObject field, ``horizon`` long."""

    quantity: FloatArray
    trend: FloatArray
    season: FloatArray
    noise: FloatArray
    lower: FloatArray
    upper: FloatArray


def forecast(
    series: FloatArray, phase0: int, choice: Choice, horizon: int, recorded: float = 0.0
) -> Forecast:
    """Forecast the ``horizon`` periods after ``series``; the first is the current period.

    ``recorded`` is what the current period has already sold; its forecast is never below it.
    """
    trend, season = _components(series, phase0, choice, horizon)
    modelled = trend + season
    quantity = np.maximum(modelled, 0.0)
    quantity[0] = max(quantity[0], recorded)
    width = np.sqrt(np.maximum(1.0, np.arange(1, horizon + 1) / choice.steps))
    lower = np.clip(quantity + min(choice.error_low, 0.0) * width, 0.0, quantity)
    lower[0] = min(max(lower[0], recorded), quantity[0])
    upper = quantity + max(choice.error_high, 0.0) * width
    return Forecast(quantity, trend, season, quantity - modelled, lower, upper)


def _components(
    series: FloatArray, phase0: int, choice: Choice, horizon: int
) -> tuple[FloatArray, FloatArray]:
    n, m = series.size, choice.season
    end = np.array([n], dtype=np.int64)
    zeros = np.zeros(horizon)
    if choice.family == "seasonal_naive":
        path = seasonal.naive_at(series, end, m, horizon)[0]
        level = float(series[n - m :].mean())
        return np.full(horizon, level), path - level
    if choice.family == "intermittent":
        rate = float(intermittent.forecasts_at(series, end)[choice.row, 0])
        return np.full(horizon, rate), zeros
    idx = seasonal.indices(series, phase0, m) if choice.family == "seasonal_linear" else None
    if idx is None:  # also a seasonal model whose indices can no longer be estimated
        states = smoothing.states_at(series[None, :], end)
        return smoothing.paths(states, horizon)[choice.row, 0, 0], zeros
    adjusted = series - idx[(phase0 + np.arange(n)) % m]
    states = smoothing.states_at(adjusted[None, :], end)
    trend = smoothing.paths(states, horizon)[choice.row, 0, 0]
    return trend, idx[(phase0 + n + np.arange(horizon)) % m]
