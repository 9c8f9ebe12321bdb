"""Purchase-order maths: safety stock, reorder point and replenishment quantity.

The IO docs define the planning period as time to next order + lead time (contract §1.5) but
not the formulas; these are the textbook periodic-review (order-up-to) rules
(Silver, Pyke & Thomas, *Inventory and Production Management in Supply Chains*, 4th ed., §6–7):

- safety stock ``SS = z(service level) · σ · √(P / step)`` with σ the per-step forecast error
  (backtest RMSE) and ``P`` the planning period in days; SS ≥ 0;
- reorder point ``ROP = D(lead time) + SS``;
- order-up-to level ``S = D(planning period) + SS``; replenishment ``Q = max(0, S − inventory)``;

where ``D(x)`` is the forecast demand of the next ``x`` days from today. Each forecast period's
quantity is spread evenly over its days; the current period contributes only what is left of
it (its forecast minus what it has already sold, from today to its end); past the horizon the
mean daily rate of the forecast continues. All three are valid from today to the last day of
the planning period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from emulator.analytics.calendar import FloatArray, IntArray


@dataclass(frozen=True)
class Plan:
    """The three suggestions and the day numbers of their validity interval."""

    safety_stock: float
    reorder_point: float
    replenishment: float
    start_day: int
    end_day: int


@dataclass(frozen=True)
class Demand:
    """Forecast demand as periods ``[starts[k], ends[k])`` (day numbers) with amounts."""

    starts: IntArray
    ends: IntArray
    amounts: FloatArray

    def between(self, first: float, last: float) -> float:
        """Demand in days ``[first, last)``."""
        spans = (self.ends - self.starts).astype(np.float64)
        rates = self.amounts / spans
        overlap = np.clip(np.minimum(self.ends, last) - np.maximum(self.starts, first), 0, None)
        total = float(rates @ overlap)
        tail = last - max(float(self.ends[-1]), first)
        if tail > 0:
            total += tail * float(self.amounts.sum() / spans.sum())
        return total


def remaining_demand(
    starts: IntArray, ends: IntArray, quantities: FloatArray, today: int, recorded: float
) -> Demand:
    """The demand still to come from ``today``: the current period minus what it has sold."""
    starts = starts.copy()
    amounts = quantities.astype(np.float64, copy=True)
    starts[0] = today
    amounts[0] = max(amounts[0] - recorded, 0.0)
    return Demand(starts, ends, amounts)


def plan(
    demand: Demand,
    today: int,
    sigma_per_step: float,
    step_days: float,
    service_level: float,
    inventory: float,
    review_days: float,
    lead_days: float,
) -> Plan:
    """Safety stock, reorder point and order quantity for the planning period from ``today``."""
    period = review_days + lead_days
    z = max(NormalDist().inv_cdf(service_level), 0.0)
    safety = z * sigma_per_step * math.sqrt(period / step_days)
    reorder = demand.between(today, today + lead_days) + safety
    up_to = demand.between(today, today + period) + safety
    end = today + max(math.ceil(period) - 1, 0)
    return Plan(safety, reorder, max(up_to - inventory, 0.0), today, end)
