"""Croston's method and the Syntetos–Boylan approximation (SBA) for intermittent demand.

Croston (1972) smooths the non-zero demand sizes ``z`` and the intervals ``p`` between them
separately with SES (updated only in periods with demand) and forecasts ``z/p`` per period.
SBA (Syntetos & Boylan 2005) multiplies by ``1 − α/2`` to remove Croston's bias.
Both SES recursions start at the first observation and, like :mod:`smoothing`, are evaluated as
a weighted sum of the most recent values.
"""

from __future__ import annotations

import functools

import numpy as np

from emulator.analytics.calendar import FloatArray, IntArray

ALPHAS = np.array([0.1, 0.2])
NAMES = tuple(f"croston(alpha={a})" for a in ALPHAS) + tuple(f"sba(alpha={a})" for a in ALPHAS)


@functools.cache
def _weights(length: int) -> FloatArray:
    """(A, length): α(1−α)^j, the SES weight of the value j steps back."""
    weights: FloatArray = ALPHAS[:, None] * (1 - ALPHAS)[:, None] ** np.arange(length)[None, :]
    weights.flags.writeable = False  # shared by every caller
    return weights


def _ses_after(values: FloatArray, counts: IntArray) -> FloatArray:
    """(A, R) SES level after the first ``counts[r]`` values, initialised at values[0]."""
    k = values.size
    lags = max(k - 1, 1)
    padded = np.zeros(k - 1 + lags)
    padded[: k - 1] = values[:0:-1]
    start = np.clip(k - counts, 0, k - 1)
    windows = padded[start[:, None] + np.arange(lags)[None, :]]  # (R, lags): values[c-1-j]
    # Past the prefix the window reads the zero padding, so each origin sums its own values.
    levels = _weights(_bucket(lags))[:, :lags] @ windows.T
    first = (1 - ALPHAS)[:, None] ** np.maximum(counts - 1, 0)[None, :] * values[0]
    result: FloatArray = levels + first
    return result


def _bucket(length: int) -> int:
    """``length`` rounded up to a power of two, so few weight tables are ever cached."""
    return 1 << max(length - 1, 1).bit_length()


def forecasts_at(series: FloatArray, origins: IntArray) -> FloatArray:
    """(4, R) per-period forecasts: Croston for each α, then SBA for each α."""
    where = np.flatnonzero(series > 0)
    if where.size == 0:
        return np.zeros((2 * ALPHAS.size, origins.size))
    sizes = series[where]
    intervals = np.diff(np.concatenate(([-1], where))).astype(np.float64)
    counts = np.searchsorted(where, origins)  # demands strictly before each origin
    croston = _ses_after(sizes, counts) / _ses_after(intervals, counts)
    croston[:, counts == 0] = 0.0
    sba = croston * (1 - ALPHAS / 2)[:, None]
    return np.concatenate([croston, sba])
