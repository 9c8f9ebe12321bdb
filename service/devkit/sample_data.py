"""Realistic sample ERP data, generated deterministically from a seed (standard library only).

Per tenant, ``products`` datasets (one stock item each) with an even mix of demand patterns,
``days`` of daily sales as individual order lines, a planning snapshot and a forecast spec.
Demand levels are Pareto-distributed and list prices log-normal, so product revenues have the
long tail an ABC classification expects; a few products per tenant carry no price data at all.

Entry points (re-exported here; the work is split over ``sample_*.py``)::

    data = generate(tenants=3, products=100, days=730, seed=42)
    for event in events(data, envelope="mixed"):   # sales-updated v1 Kafka records
        ...
    summarize(data, events(data))                  # what the demo should expect per tenant
    group_into_events(read_transactions("export.csv"))   # a partner's own export, for replay

The same arguments always give the same bytes; a per-dataset random stream keeps one
product's history independent of how many others are generated.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from service.devkit.sample_events import events
from service.devkit.sample_model import (
    Dataset,
    ForecastSpec,
    Pattern,
    Period,
    SampleData,
    SampleEvent,
    StockItem,
    TenantSummary,
    Transaction,
)
from service.devkit.sample_patterns import daily_demand, split_orders
from service.devkit.sample_replay import (
    group_into_events,
    read_transactions,
    transaction_rows,
    write_transactions,
)
from service.devkit.sample_wire import Envelope

__all__ = [
    "DEFAULT_END",
    "Dataset",
    "Envelope",
    "Pattern",
    "SampleData",
    "SampleEvent",
    "TenantSummary",
    "events",
    "generate",
    "group_into_events",
    "read_transactions",
    "summarize",
    "transaction_rows",
    "write_transactions",
]

DEFAULT_END = dt.date(2026, 9, 30)
_MIX = ("smooth", "trending", "weekly", "yearly", "intermittent", "lumpy")
_BY_NAME = {
    "smooth": Pattern.SMOOTH,
    "weekly": Pattern.WEEKLY_SEASONAL,
    "yearly": Pattern.YEARLY_SEASONAL,
    "intermittent": Pattern.INTERMITTENT,
    "lumpy": Pattern.LUMPY,
}
_SERVICE_LEVELS = (0.9, 0.92, 0.95, 0.95, 0.97, 0.98, 0.99)
_HORIZONS = {"W": (4, 8, 12, 13, 26), "D": (14, 28, 30, 60, 90), "M": (3, 6, 12)}


def generate(
    tenants: int = 3,
    products: int = 100,
    days: int = 730,
    seed: int = 42,
    end: dt.date = DEFAULT_END,
) -> SampleData:
    """Generate ``tenants`` × ``products`` datasets of ``days`` daily sales ending on ``end``."""
    if min(tenants, products, days) < 1:
        raise ValueError("tenants, products and days must be at least 1")
    start = end - dt.timedelta(days=days - 1)
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    calendar = _Calendar(dates, [f"{d:%Y%m%d}" for d in dates])
    tenant_ids = tuple(f"tenant-{n:03d}" for n in range(1, tenants + 1))
    datasets = [d for t in tenant_ids for d in _tenant(seed, t, products, calendar)]
    return SampleData(seed=seed, start=start, end=end, tenants=tenant_ids, datasets=tuple(datasets))


def summarize(
    data: SampleData, sample_events: Iterable[SampleEvent] = ()
) -> dict[str, TenantSummary]:
    """Expected counts per tenant: datasets and transactions from ``data``, events from the rest.

    ``sum(summary.values(), TenantSummary())`` gives the totals.
    """
    summary = {t: _data_summary(data.of_tenant(t)) for t in data.tenants}
    for event in sample_events:
        seen = TenantSummary(
            valid_events=int(event.expected_valid),
            invalid_events=int(not event.expected_valid),
            bytes=len(event.value),
        )
        summary[event.tenant_id] = summary.get(event.tenant_id, TenantSummary()) + seen
    return summary


def _data_summary(datasets: Sequence[Dataset]) -> TenantSummary:
    patterns: dict[str, int] = {}
    for d in datasets:
        patterns[d.pattern.value] = patterns.get(d.pattern.value, 0) + 1
    return TenantSummary(
        datasets=len(datasets),
        datasets_with_prices=sum(d.has_prices for d in datasets),
        transactions=sum(len(d.transactions) for d in datasets),
        patterns=patterns,
    )


class _Calendar(NamedTuple):
    dates: list[dt.date]
    keys: list[str]  # YYYYMMDD, for transaction ids


def _tenant(seed: int, tenant_id: str, products: int, calendar: _Calendar) -> list[Dataset]:
    rng = random.Random(f"{seed}/{tenant_id}")
    patterns = _pattern_mix(rng, products)
    unpriced = set(rng.sample(range(products), _unpriced_count(products)))
    suppliers = [f"sup-{k:03d}" for k in range(1, max(2, products // 10) + 1)]
    return [
        _dataset(
            random.Random(f"{seed}/{tenant_id}/{i}"),
            (tenant_id, f"sku-{i + 1:05d}", patterns[i]),
            i not in unpriced,
            suppliers,
            calendar,
        )
        for i in range(products)
    ]


def _pattern_mix(rng: random.Random, products: int) -> list[Pattern]:
    """An even mix of the six pattern families, trends alternating up and down, shuffled."""
    names = [_MIX[i % len(_MIX)] for i in range(products)]
    patterns, trends = [], 0
    for name in names:
        if name == "trending":
            patterns.append(Pattern.TRENDING_DOWN if trends % 2 else Pattern.TRENDING_UP)
            trends += 1
        else:
            patterns.append(_BY_NAME[name])
    rng.shuffle(patterns)
    return patterns


def _unpriced_count(products: int) -> int:
    return max(1, round(products * 0.05)) if products >= 5 else 0


def _level(rng: random.Random, pattern: Pattern) -> float:
    """Mean units per selling day: Pareto-spread, so a few products dominate revenue."""
    if pattern in (Pattern.INTERMITTENT, Pattern.LUMPY):
        return rng.uniform(1.5, 4.0) * min(rng.paretovariate(1.5), 10.0)
    return rng.uniform(3.0, 6.0) * min(rng.paretovariate(1.2), 60.0)


@dataclass(frozen=True, slots=True)
class _Pricing:
    list_price: float
    margin: float
    increase: float
    increase_day: int

    @classmethod
    def draw(cls, rng: random.Random, days: int) -> _Pricing:
        price = min(max(rng.lognormvariate(3.2, 1.1), 1.0), 5000.0)
        return cls(price, rng.uniform(0.18, 0.55), rng.uniform(0.02, 0.08), rng.randrange(days))

    def line(self, rng: random.Random, day: int) -> tuple[float, float]:
        """Unit price (list price, sometimes discounted) and unit cost, cost < price."""
        base = self.list_price * (1 + self.increase if day >= self.increase_day else 1.0)
        draw = rng.random()  # one draw: 30 % of lines get a 2–15 % discount
        discount = 0.02 + draw * 0.13 / 0.3 if draw < 0.3 else 0.0
        cost = base * (1 - self.margin) * (0.98 + 0.04 * rng.random())
        return round(base * (1 - discount), 2), round(cost, 2)


def _dataset(
    rng: random.Random,
    ids: tuple[str, str, Pattern],
    priced: bool,
    suppliers: Sequence[str],
    calendar: _Calendar,
) -> Dataset:
    tenant_id, dataset_id, pattern = ids
    dates = calendar.dates
    demand = daily_demand(pattern, rng, dates, _level(rng, pattern))
    pricing = _Pricing.draw(rng, len(dates)) if priced else None
    extra_orders = rng.uniform(0.2, 1.5)
    lines: list[Transaction] = []
    for i, quantity in enumerate(demand):
        if not quantity:
            continue
        prefix = f"{dataset_id}-{calendar.keys[i]}-"
        for n, part in enumerate(split_orders(rng, quantity, extra_orders), start=1):
            price, cost = pricing.line(rng, i) if pricing else (None, None)
            lines.append(Transaction(f"{prefix}{n}", dates[i], part, price, cost))
    return Dataset(
        tenant_id=tenant_id,
        dataset_id=dataset_id,
        pattern=pattern,
        transactions=tuple(lines),
        stock_item=_stock_item(rng, sum(demand) / len(demand), suppliers),
        forecast=_forecast(rng),
    )


def _stock_item(rng: random.Random, mean_daily: float, suppliers: Sequence[str]) -> StockItem:
    lead = Period(rng.randint(1, 6), "W") if rng.random() < 0.6 else Period(rng.randint(3, 30), "D")
    lead_days = lead.value * (7 if lead.granularity == "W" else 1)
    if rng.random() < 0.04:  # a backorder: the ERP books sales before stock arrives
        inventory = -round(mean_daily * rng.uniform(1, 5)) - 1
    else:
        inventory = max(0, round(mean_daily * (lead_days + rng.uniform(-5, 30))))
    return StockItem(
        current_inventory_level=inventory,
        wanted_service_level=rng.choice(_SERVICE_LEVELS),
        time_to_next_order=rng.choice(
            (Period(rng.randint(1, 4), "W"), Period(rng.randint(3, 14), "D"), Period(1, "M"))
        ),
        supplier_id=rng.choice(suppliers),
        lead_time=lead,
    )


def _forecast(rng: random.Random) -> ForecastSpec:
    draw = rng.random()
    frequency = "W" if draw < 0.7 else "D" if draw < 0.85 else "M"
    return ForecastSpec(frequency, rng.choice(_HORIZONS[frequency]))
