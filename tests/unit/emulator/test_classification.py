"""Inventory classification on series with known answers (README: conventions, not Visma's)."""

from __future__ import annotations

import numpy as np
import pytest

from emulator.analytics import classification
from emulator.analytics.seasonal import is_seasonal


def weekly_seasonal_days(weeks: int = 30, seed: int = 1) -> np.ndarray:
    """Daily sales with a strong weekly cycle (weekends triple) and noise."""
    rng = np.random.default_rng(seed)
    pattern = np.array([10, 10, 11, 10, 12, 30, 32], dtype=np.float64)
    return np.tile(pattern, weeks) + rng.normal(0, 1.5, 7 * weeks)


def test_a_weekly_seasonal_daily_series_is_seasonal_with_a_weekly_season() -> None:
    """The lag-7 autocorrelation test finds the weekly cycle; no yearly one in 7 months."""
    days = weekly_seasonal_days()
    months = days[: 7 * 28].reshape(7, -1).sum(axis=1)
    assert classification.seasonalities(days, months) == ["weekly"]


def test_white_noise_is_not_seasonal() -> None:
    """No cycle, no seasonality."""
    noise = np.random.default_rng(7).normal(20, 3, 365)
    assert not is_seasonal(noise, 7, cycles=3)


def test_a_yearly_cycle_in_monthly_totals_is_yearly_seasonal() -> None:
    """Three years of monthly totals with a summer peak: yearly."""
    months = np.tile([5, 5, 6, 8, 12, 20, 25, 22, 12, 8, 6, 5], 3).astype(np.float64)
    daily = np.random.default_rng(1).normal(10, 1, 3 * 365)
    assert classification.seasonalities(daily, months) == ["yearly"]


@pytest.mark.parametrize("probability", [0.05, 0.1])
def test_a_sparse_series_is_intermittent_or_lumpy(probability: float) -> None:
    """Sales on few days, bucketed weekly, have ADI ≥ 1.32."""
    rng = np.random.default_rng(11)
    days = np.where(rng.random(7 * 52) < probability, rng.integers(1, 20, 7 * 52), 0)
    weeks = days.reshape(52, 7).sum(axis=1).astype(np.float64)
    assert classification.demand_type(weeks) in ("intermittent", "lumpy")


@pytest.mark.parametrize(
    ("buckets", "expected"),
    [
        ([10, 11, 9, 10, 12, 10], "smooth"),
        ([1, 30, 2, 40, 1, 25], "erratic"),
        ([5, 0, 0, 5, 0, 6, 0, 0, 5], "intermittent"),
        ([1, 0, 0, 40, 0, 2, 0, 0, 30], "lumpy"),
    ],
)
def test_demand_types_follow_the_syntetos_boylan_quadrants(
    buckets: list[float], expected: str
) -> None:
    """ADI 1.32 and CV² 0.49 split smooth, erratic, intermittent, lumpy."""
    assert classification.demand_type(np.array(buckets, dtype=np.float64)) == expected


def test_a_pareto_set_of_revenues_splits_a_b_c_as_expected() -> None:
    """Shares 50/20/10/8/5/3/2/1/1 %: A is what reaches 80 %, B to 95 %, C the rest."""
    ids = [f"p{i}" for i in range(9)]
    revenue = np.array([50, 20, 10, 8, 5, 3, 2, 1, 1], dtype=np.float64)
    result = classification.abc(ids, revenue)
    assert [result[i] for i in ids] == ["A", "A", "A", "B", "B", "B", "C", "C", "C"]


def test_abc_ignores_input_order_and_puts_zero_or_negative_drivers_in_c() -> None:
    """Sorting is by value (ties by id); nothing sold means C."""
    result = classification.abc(["z", "y", "x"], np.array([0.0, -5.0, 10.0]))
    assert result == {"x": "A", "y": "C", "z": "C"}


def test_mann_kendall_finds_trends_and_no_trend() -> None:
    """A noisy ramp is increasing, its mirror decreasing, white noise none."""
    rng = np.random.default_rng(2)
    ramp = np.arange(60, dtype=np.float64) + rng.normal(0, 3, 60)
    assert classification.trend(ramp) == "increasing"
    assert classification.trend(ramp[::-1].copy()) == "decreasing"
    assert classification.trend(rng.normal(0, 1, 60)) == "none"


def test_mann_kendall_is_calibrated_on_noise() -> None:
    """About 5 % of pure-noise series reject no-trend at the 5 % level."""
    rng = np.random.default_rng(0)
    rejections = sum(classification.trend(rng.normal(size=80)) != "none" for _ in range(400))
    assert 5 <= rejections <= 40
