"""Model selection by rolling-origin backtest.

Candidates (each a named method with fixed parameters): naive, simple exponential smoothing
(6 values of α), additive damped trend (18 parameter sets), the same three on the seasonally
adjusted series (classical decomposition; when two seasons precede the first origin), seasonal
naive (when a season precedes it), Croston and SBA (2 values of α each).

Backtest (Tashman 2000, "rolling origin"): ``H = min(horizon, n // 4)`` steps are forecast from
up to four origins spaced ``H/2`` apart at the end of the history; the candidate with the lowest
mean squared error over all origins and steps is kept (ties: the simpler, earlier candidate).
MSE rather than MAE because MAE rewards forecasting zero on intermittent series (Kolassa 2016).
The kept model's errors also give the forecast band (10 % / 90 % quantiles) and the per-step
error scale used for safety stock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from emulator.analytics import intermittent, seasonal, smoothing
from emulator.analytics.calendar import FloatArray, IntArray

Family = Literal["linear", "seasonal_linear", "seasonal_naive", "intermittent"]
ORIGINS = 4
MIN_TRAIN = 3


@dataclass(frozen=True)
class Choice:
    """The kept model of one series and what its backtest says about its errors."""

    name: str
    family: Family
    row: int
    season: int
    mse: float
    naive_mse: float
    error_low: float
    error_high: float
    rmse: float
    steps: int
    candidates: int


@dataclass(frozen=True)
class _Candidates:
    names: list[str]
    families: list[Family]
    rows: list[int]
    forecasts: FloatArray  # (C, R, H)


def backtest_origins(n: int, horizon: int) -> tuple[IntArray, int]:
    """Origins (number of values seen) and steps of the rolling-origin backtest."""
    steps = max(1, min(horizon, n // 4))
    spacing = max(1, steps // 2)
    origins = [n - steps - r * spacing for r in range(ORIGINS)]
    return np.array([o for o in origins if o >= MIN_TRAIN], dtype=np.int64), steps


def select(series: FloatArray, phase0: int, season: int, horizon: int) -> Choice:
    """Backtest every candidate on ``series`` (complete periods, oldest first); keep the best.

    ``phase0`` is the absolute period index of ``series[0]`` (aligns seasonal phases);
    ``season`` the season length of the granularity. Needs ``len(series) >= MIN_TRAIN + 1``.
    """
    origins, steps = backtest_origins(series.size, horizon)
    if origins.size == 0:
        raise ValueError(f"too short to backtest: {series.size} values")
    cands = _candidates(series, origins, phase0, season, steps)
    actual = series[origins[:, None] + np.arange(steps)[None, :]]
    errors = actual[None] - np.maximum(cands.forecasts, 0.0)
    mse = np.mean(errors**2, axis=(1, 2))
    best = int(np.argmin(mse))
    kept = errors[best].ravel()
    low, high = np.quantile(kept, [0.1, 0.9])
    return Choice(
        name=cands.names[best],
        family=cands.families[best],
        row=cands.rows[best],
        season=season,
        mse=float(mse[best]),
        naive_mse=float(mse[0]),
        error_low=float(low),
        error_high=float(high),
        rmse=float(np.sqrt(mse[best])),
        steps=steps,
        candidates=len(cands.names),
    )


def _candidates(
    series: FloatArray, origins: IntArray, phase0: int, season: int, steps: int
) -> _Candidates:
    first = int(origins.min())
    idx = seasonal.indices(series[:first], phase0, season)
    inputs = series[None, :]
    if idx is not None:
        adjusted = series - idx[(phase0 + np.arange(series.size)) % season]
        inputs = np.stack([series, adjusted])
    lin = smoothing.paths(smoothing.states_at(inputs, origins), steps)  # (P, S, R, H)
    rows = list(range(len(smoothing.GRID.names)))
    names = list(smoothing.GRID.names)
    families: list[Family] = ["linear"] * len(rows)
    blocks = [lin[:, 0]]
    if idx is not None:
        ahead = origins[:, None] + np.arange(steps)[None, :]
        blocks.append(lin[:, 1] + idx[(phase0 + ahead) % season][None])
        names += [f"seasonal_{name}" for name in smoothing.GRID.names]
        families += ["seasonal_linear"] * len(rows)
        rows += list(range(len(smoothing.GRID.names)))
    if first >= season:
        blocks.append(seasonal.naive_at(series, origins, season, steps)[None])
        names.append(f"seasonal_naive(m={season})")
        families.append("seasonal_naive")
        rows.append(0)
    flat = intermittent.forecasts_at(series, origins)  # (4, R)
    blocks.append(np.repeat(flat[:, :, None], steps, axis=2))
    names += list(intermittent.NAMES)
    families += ["intermittent"] * len(intermittent.NAMES)
    rows += list(range(len(intermittent.NAMES)))
    return _Candidates(names, families, rows, np.concatenate(blocks))
