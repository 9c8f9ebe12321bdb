"""Naive, simple exponential smoothing and damped-trend smoothing as one linear filter.

For fixed parameters, additive damped-trend exponential smoothing (Gardner & McKenzie 1985;
Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., §8.2) is linear:

    l_t = α y_t + (1−α)(l_{t−1} + φ b_{t−1})
    b_t = β (l_t − l_{t−1}) + (1−β) φ b_{t−1}

is ``x_t = A x_{t−1} + g y_t`` with ``x = (l, b)``, ``A = [[1−α, (1−α)φ], [−αβ, φ(1−αβ)]]``
and ``g = (α, αβ)``. So the state after ``T`` observations is the data convolved with the impulse
response ``A^j g`` plus ``A^{T−1} x_0`` (``x_0 = (y_0, 0)``). Simple exponential smoothing is the
case β = 0 (the trend stays 0) and the naive method is SES with α = 1. The impulse responses are
computed once per parameter grid, so fitting a whole grid at several backtest origins is one
matrix product per series instead of a Python loop over time.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

import numpy as np

from emulator.analytics.calendar import FloatArray, IntArray


@dataclass(frozen=True)
class Grid:
    """Parameter rows of the linear family, each with a printable name."""

    names: tuple[str, ...]
    alpha: FloatArray
    beta: FloatArray
    phi: FloatArray


def _build_grid() -> Grid:
    rows: list[tuple[str, float, float, float]] = [("naive", 1.0, 0.0, 0.0)]
    rows += [(f"ses(alpha={a})", a, 0.0, 0.0) for a in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7)]
    rows += [
        (f"damped_trend(alpha={a},beta={b},phi={p})", a, b, p)
        for a in (0.1, 0.2, 0.4)
        for b in (0.05, 0.15)
        for p in (0.8, 0.9, 0.98)
    ]
    names, alpha, beta, phi = zip(*rows, strict=True)
    return Grid(names, np.array(alpha), np.array(beta), np.array(phi))


GRID = _build_grid()


@dataclass
class _Kernels:
    """Impulse responses ``A^j g`` and ``A^j e_1`` of every grid row, grown on demand."""

    grid: Grid
    response: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))  # (P*2, K)
    initial: FloatArray = field(default_factory=lambda: np.zeros((0, 2, 0)))  # (P, 2, K)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, length: int) -> tuple[FloatArray, FloatArray]:
        """Responses for at least ``length`` lags (thread-safe; arrays are never mutated)."""
        response, initial = self.response, self.initial
        if response.shape[1] >= length:
            return response, initial
        with self.lock:
            if self.response.shape[1] < length:
                self.response, self.initial = _impulse_responses(
                    self.grid, max(length, 2 * self.response.shape[1], 64)
                )
            return self.response, self.initial


def _impulse_responses(grid: Grid, length: int) -> tuple[FloatArray, FloatArray]:
    a, b, p = grid.alpha, grid.beta, grid.phi
    transition = np.empty((a.size, 2, 2))
    transition[:, 0, 0] = 1 - a
    transition[:, 0, 1] = (1 - a) * p
    transition[:, 1, 0] = -a * b
    transition[:, 1, 1] = p * (1 - a * b)
    response = np.empty((a.size, 2, length))
    initial = np.empty((a.size, 2, length))
    vec = np.stack([a, a * b], axis=1)
    unit = np.stack([np.ones_like(a), np.zeros_like(a)], axis=1)
    for j in range(length):
        response[:, :, j], initial[:, :, j] = vec, unit
        vec = np.einsum("pab,pb->pa", transition, vec)
        unit = np.einsum("pab,pb->pa", transition, unit)
    return response.reshape(a.size * 2, length), initial


_KERNELS = _Kernels(GRID)


def states_at(series: FloatArray, origins: IntArray) -> FloatArray:
    """Level and trend of every grid row after the first ``T`` values, for each origin ``T``.

    ``series`` is (S, n) — several series of equal length share one product; ``origins`` are in
    [1, n]. Returns (P, 2, S, R): row, (level, trend), series, origin.
    """
    count, n = series.shape
    lags = max(n - 1, 1)
    response, initial = _KERNELS.get(max(lags, int(origins.max())))
    padded = np.zeros((count, n - 1 + lags))
    padded[:, : n - 1] = series[:, :0:-1]  # y[n-1], ..., y[1]; y[0] enters via the initial state
    windows = padded[:, (n - origins)[:, None] + np.arange(lags)[None, :]]  # (S, R, lags)
    flat = response[:, :lags] @ windows.reshape(-1, lags).T  # (P*2, S*R)
    states = flat.reshape(GRID.alpha.size, 2, count, origins.size)
    start = initial[:, :, origins - 1]  # (P, 2, R)
    result: FloatArray = states + start[:, :, None, :] * series[None, None, :, 0, None]
    return result


@functools.cache
def damped_sums(steps: int) -> FloatArray:
    """(P, steps): Σ_{i=1}^{h} φ^i for h = 1..steps — the trend multiplier of each step."""
    powers = GRID.phi[:, None] ** np.arange(1, steps + 1)[None, :]
    sums: FloatArray = np.cumsum(powers, axis=1)
    sums.flags.writeable = False  # shared by every caller
    return sums


def paths(states: FloatArray, steps: int) -> FloatArray:
    """Forecast paths (P, S, R, steps) from states (P, 2, S, R)."""
    level, trend = states[:, 0], states[:, 1]
    mult = damped_sums(steps)[:, None, None, :]
    result: FloatArray = level[..., None] + trend[..., None] * mult
    return result
