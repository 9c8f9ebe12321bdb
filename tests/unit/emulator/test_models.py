"""The forecasting methods against their textbook recursions, and model selection."""

from __future__ import annotations

import numpy as np

from emulator.analytics import intermittent, seasonal, smoothing
from emulator.analytics.calendar import FloatArray
from emulator.analytics.forecasting import forecast
from emulator.analytics.selection import select


def damped_recursion(alpha: float, beta: float, phi: float, y: FloatArray) -> tuple[float, float]:
    """Level and trend of additive damped-trend smoothing, the loop from FPP3 §8.2."""
    level, trend = float(y[0]), 0.0
    for value in y[1:]:
        new = alpha * value + (1 - alpha) * (level + phi * trend)
        trend = beta * (new - level) + (1 - beta) * phi * trend
        level = new
    return level, trend


def croston_recursion(alpha: float, y: FloatArray) -> float:
    """Croston's per-period forecast by the original recursion (Croston 1972)."""
    size = interval = None
    since = 0
    for value in y:
        since += 1
        if value > 0:
            if size is None or interval is None:
                size, interval = float(value), float(since)
            else:
                size = alpha * value + (1 - alpha) * size
                interval = alpha * since + (1 - alpha) * interval
            since = 0
    return 0.0 if size is None or interval is None else size / interval


def test_the_linear_filter_equals_the_smoothing_recursion_for_every_grid_row() -> None:
    """Naive, SES and damped-trend states from the impulse responses match the loop."""
    rng = np.random.default_rng(3)
    y = rng.normal(10, 2, 80) + 0.2 * np.arange(80)
    origins = np.array([80, 41, 2, 1])
    states = smoothing.states_at(y[None, :], origins)
    for row, _ in enumerate(smoothing.GRID.names):
        a, b, p = (
            float(smoothing.GRID.alpha[row]),
            float(smoothing.GRID.beta[row]),
            float(smoothing.GRID.phi[row]),
        )
        for col, origin in enumerate(origins):
            expected = damped_recursion(a, b, p, y[:origin])
            assert np.allclose(states[row, :, 0, col], expected), (row, origin)


def test_croston_and_sba_equal_their_recursions() -> None:
    """Vectorised Croston matches the loop; SBA is Croston times 1 − α/2."""
    rng = np.random.default_rng(5)
    y = np.where(rng.random(90) < 0.25, rng.integers(1, 9, 90), 0).astype(np.float64)
    origins = np.array([90, 50, 10])
    got = intermittent.forecasts_at(y, origins)
    for i, alpha in enumerate(intermittent.ALPHAS):
        for col, origin in enumerate(origins):
            expected = croston_recursion(float(alpha), y[:origin])
            assert np.isclose(got[i, col], expected)
            assert np.isclose(got[i + 2, col], expected * (1 - alpha / 2))


def test_seasonal_indices_recover_a_pure_weekly_pattern() -> None:
    """Classical decomposition of pattern + constant gives the centred pattern back."""
    pattern = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 9.0, 11.0])
    y = 50 + np.tile(pattern, 10)
    found = seasonal.indices(y, phase0=0, season=7)
    assert found is not None
    assert np.allclose(found, pattern - pattern.mean())


def test_model_selection_keeps_a_seasonal_model_for_a_weekly_seasonal_series() -> None:
    """A strong weekly pattern is best forecast by a seasonal candidate."""
    rng = np.random.default_rng(2)
    y = 20 + 8 * np.sin(2 * np.pi * np.arange(200) / 7) + rng.normal(0, 1, 200)
    choice = select(y, phase0=0, season=7, horizon=14)
    assert choice.family in ("seasonal_linear", "seasonal_naive")
    assert choice.mse < choice.naive_mse


def test_forecasts_beat_naive_on_a_trending_series() -> None:
    """On a linear trend plus noise, the kept model's hold-out error is below naive's."""
    rng = np.random.default_rng(0)
    y = 20 + 0.5 * np.arange(228) + rng.normal(0, 2, 228)
    train, test = y[:200], y[200:]
    result = forecast(train, 0, select(train, 0, 7, 28), 28)
    model_mae = np.abs(test - result.quantity).mean()
    naive_mae = np.abs(test - train[-1]).mean()
    assert model_mae < 0.6 * naive_mae


def test_the_forecast_decomposes_exactly_and_bands_contain_it() -> None:
    """quantity = trend + season + noise; lower ≤ quantity ≤ upper; step 1 ≥ recorded sales."""
    rng = np.random.default_rng(4)
    y = 10 + 4 * np.sin(2 * np.pi * np.arange(140) / 7) + rng.normal(0, 1, 140)
    result = forecast(y, 0, select(y, 0, 7, 21), 21, recorded=30.0)
    assert np.allclose(result.trend + result.season + result.noise, result.quantity)
    assert np.all(result.lower <= result.quantity)
    assert np.all(result.quantity <= result.upper)
    assert result.quantity[0] == 30.0
    assert np.all(result.quantity >= 0)


def test_selection_is_deterministic() -> None:
    """The same series gives the same choice and forecast every time."""
    y = np.random.default_rng(9).poisson(3, 300).astype(np.float64)
    first, second = select(y, 0, 7, 28), select(y.copy(), 0, 7, 28)
    assert first == second
    assert np.array_equal(forecast(y, 0, first, 28).quantity, forecast(y, 0, second, 28).quantity)
