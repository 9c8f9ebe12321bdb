"""Purchase-order maths against a hand computation."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from emulator.analytics.replenishment import Demand, plan, remaining_demand


def daily_demand(rate: float, days: int, first: int = 0) -> Demand:
    """A constant daily forecast."""
    starts = np.arange(first, first + days, dtype=np.int64)
    return Demand(starts, starts + 1, np.full(days, rate))


def test_po_numbers_match_a_hand_computation() -> None:
    """10/day, review 14 d, lead 7 d, σ 2/day, 95 %, stock 50: SS, ROP and order by hand."""
    result = plan(
        daily_demand(10.0, 60),
        today=0,
        sigma_per_step=2.0,
        step_days=1.0,
        service_level=0.95,
        inventory=50.0,
        review_days=14.0,
        lead_days=7.0,
    )
    z = NormalDist().inv_cdf(0.95)  # 1.6449
    safety = z * 2.0 * math.sqrt(21)  # 15.08
    assert result.safety_stock == pytest.approx(safety)
    assert result.reorder_point == pytest.approx(70 + safety)
    assert result.replenishment == pytest.approx(210 + safety - 50)
    assert (result.start_day, result.end_day) == (0, 20)


def test_weekly_steps_spread_over_their_days_and_scale_sigma_by_weeks() -> None:
    """Weekly forecasts of 70 are 10/day; σ per week scales with √(days / 7)."""
    starts = np.arange(0, 70, 7, dtype=np.int64)
    demand = Demand(starts, starts + 7, np.full(10, 70.0))
    result = plan(demand, 0, 5.0, 7.0, 0.9, 0.0, 14.0, 7.0)
    z = NormalDist().inv_cdf(0.9)
    assert result.safety_stock == pytest.approx(z * 5.0 * math.sqrt(3))
    assert result.replenishment == pytest.approx(210 + result.safety_stock)


def test_the_current_period_counts_only_what_is_left_of_it() -> None:
    """Today is day 3 of a week forecast at 70 with 40 sold: 30 left over days 3–6."""
    starts = np.array([0, 7], dtype=np.int64)
    demand = remaining_demand(starts, starts + 7, np.array([70.0, 70.0]), today=3, recorded=40.0)
    assert demand.between(3, 7) == pytest.approx(30.0)
    assert demand.between(3, 14) == pytest.approx(100.0)


def test_demand_past_the_horizon_continues_at_the_mean_rate() -> None:
    """A 10-day horizon of 10/day covers a 15-day window at 10/day."""
    assert daily_demand(10.0, 10).between(0, 15) == pytest.approx(150.0)


def test_a_low_service_level_never_makes_safety_stock_negative() -> None:
    """z < 0 below 50 %: safety stock floors at zero; order never negative."""
    result = plan(daily_demand(1.0, 30), 0, 3.0, 1.0, 0.3, 1000.0, 7.0, 7.0)
    assert result.safety_stock == 0.0
    assert result.replenishment == 0.0
