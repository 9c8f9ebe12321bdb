"""Daily demand series for each :class:`~service.devkit.sample_model.Pattern`.

Each generator turns a demand ``level`` (mean units per selling day) into one integer quantity
per calendar day. The shapes follow the textbook demand classes the IO API distinguishes
(Syntetos–Boylan: ADI 1.32 and CV² 0.49 split smooth, erratic, intermittent and lumpy), plus a
linear trend and weekly and yearly seasonality, strong enough that simple statistics (zero-day
share, weekday means, half-on-half growth, month means) recognise each one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from collections.abc import Callable, Sequence

from service.devkit.sample_model import Pattern

# Mean-one weekday profiles (Monday first): a B2B wholesaler that ships on working days, and a
# retailer whose customers buy at the weekend.
WEEKLY_PROFILES: tuple[tuple[float, ...], ...] = (
    (1.35, 1.25, 1.2, 1.15, 1.0, 0.04, 0.01),
    (0.7, 0.65, 0.7, 0.85, 1.3, 1.8, 1.0),
)
_NORMAL_FROM = 15.0  # above this mean a rounded normal is a fine (and fast) Poisson stand-in
_DAY_NOISE = 0.15  # log-normal day-to-day wobble of the rate: real demand is over-dispersed


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw: Knuth's product method for small means, a rounded normal above."""
    if lam <= 0:
        return 0
    if lam >= _NORMAL_FROM:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, count, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _counts(rng: random.Random, rates: Sequence[float]) -> list[int]:
    return [poisson(rng, r * math.exp(rng.gauss(0.0, _DAY_NOISE))) for r in rates]


def _smooth(rng: random.Random, days: Sequence[dt.date], level: float) -> list[int]:
    return _counts(rng, [level] * len(days))


def _trend(
    first: float, last: float
) -> Callable[[random.Random, Sequence[dt.date], float], list[int]]:
    def series(rng: random.Random, days: Sequence[dt.date], level: float) -> list[int]:
        steps = max(1, len(days) - 1)
        return _counts(
            rng, [level * (first + (last - first) * i / steps) for i in range(len(days))]
        )

    return series


def _weekly(rng: random.Random, days: Sequence[dt.date], level: float) -> list[int]:
    profile = rng.choice(WEEKLY_PROFILES)
    return _counts(rng, [level * profile[d.weekday()] for d in days])


def _yearly(rng: random.Random, days: Sequence[dt.date], level: float) -> list[int]:
    amplitude, peak = rng.uniform(0.65, 0.9), rng.randrange(365)
    angle = 2 * math.pi / 365.25
    rates = [
        level * (1 + amplitude * math.cos(angle * (d.timetuple().tm_yday - peak))) for d in days
    ]
    return _counts(rng, rates)


def _intermittent(rng: random.Random, days: Sequence[dt.date], level: float) -> list[int]:
    # Few selling days, steady sizes: 1 + Poisson keeps CV² of the sizes below 0.25.
    share = rng.uniform(0.12, 0.35)
    return [1 + poisson(rng, level - 1) if rng.random() < share else 0 for _ in days]


def _lumpy(rng: random.Random, days: Sequence[dt.date], level: float) -> list[int]:
    # Few selling days, wildly varying sizes: log-normal with sigma 1.1 has CV² ≈ 2.4.
    share, mu = rng.uniform(0.08, 0.22), math.log(level)
    return [max(1, round(rng.lognormvariate(mu, 1.1))) if rng.random() < share else 0 for _ in days]


_SERIES: dict[Pattern, Callable[[random.Random, Sequence[dt.date], float], list[int]]] = {
    Pattern.SMOOTH: _smooth,
    Pattern.TRENDING_UP: _trend(0.55, 1.6),
    Pattern.TRENDING_DOWN: _trend(1.6, 0.45),
    Pattern.WEEKLY_SEASONAL: _weekly,
    Pattern.YEARLY_SEASONAL: _yearly,
    Pattern.INTERMITTENT: _intermittent,
    Pattern.LUMPY: _lumpy,
}


def daily_demand(
    pattern: Pattern, rng: random.Random, days: Sequence[dt.date], level: float
) -> list[int]:
    """One non-negative quantity per day in ``days`` for ``pattern`` around ``level``."""
    return _SERIES[pattern](rng, days, level)


def split_orders(rng: random.Random, quantity: int, extra_orders: float) -> list[int]:
    """Split a day's ``quantity`` into 1 + Poisson(``extra_orders``) positive order lines."""
    lines = min(quantity, 1 + poisson(rng, extra_orders))
    if lines <= 1:
        return [quantity]
    if lines == 2:  # the common case, without random.sample's overhead
        cut = rng.randrange(1, quantity)
        return [cut, quantity - cut]
    cuts = sorted(rng.sample(range(1, quantity), lines - 1))
    bounds = [0, *cuts, quantity]
    return [b - a for a, b in itertools.pairwise(bounds)]
