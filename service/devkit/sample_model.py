"""Value types of the sample ERP data: datasets, transactions, planning snapshots, events.

Plain frozen dataclasses (standard library only: this ships in the runtime wheel). Field names
are snake_case here; the camelCase wire spelling lives in :mod:`service.devkit.sample_events`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


class Pattern(StrEnum):
    """The demand pattern a dataset's daily sales were generated from."""

    SMOOTH = "smooth"
    TRENDING_UP = "trending-up"
    TRENDING_DOWN = "trending-down"
    WEEKLY_SEASONAL = "weekly-seasonal"
    YEARLY_SEASONAL = "yearly-seasonal"
    INTERMITTENT = "intermittent"
    LUMPY = "lumpy"


@dataclass(frozen=True, slots=True)
class Period:
    """A duration in steps of a granularity (``D``, ``W`` or ``M``)."""

    value: int
    granularity: str


@dataclass(frozen=True, slots=True)
class StockItem:
    """Planning snapshot of one stock item, as the ERP sends it with the last event."""

    current_inventory_level: float
    wanted_service_level: float
    time_to_next_order: Period
    supplier_id: str
    lead_time: Period


@dataclass(frozen=True, slots=True)
class ForecastSpec:
    """Forecast frequency and horizon (in steps of the frequency)."""

    frequency: str
    horizon: int


class Transaction(NamedTuple):
    """One sales order line. Prices are ``None`` for products without price data.

    A named tuple rather than a dataclass: a default sample holds ~275 000 of them, and tuples
    are built several times faster.
    """

    transaction_id: str
    departure_date: dt.date
    quantity: int
    unit_price: float | None = None
    unit_cost: float | None = None


@dataclass(frozen=True, slots=True)
class Dataset:
    """One product (stock item) of one tenant with its whole sales history, oldest first."""

    tenant_id: str
    dataset_id: str
    pattern: Pattern
    transactions: tuple[Transaction, ...]
    stock_item: StockItem
    forecast: ForecastSpec

    @property
    def has_prices(self) -> bool:
        """Whether the transactions carry unit price and cost (classification needs them)."""
        return bool(self.transactions) and self.transactions[0].unit_price is not None

    @property
    def revenue(self) -> float:
        """Sum of quantity × unit price; 0 without price data."""
        return sum(t.quantity * (t.unit_price or 0.0) for t in self.transactions)

    def daily_quantities(self, start: dt.date, end: dt.date) -> list[int]:
        """Total quantity per calendar day from ``start`` to ``end`` inclusive (zeros included)."""
        days = [0] * ((end - start).days + 1)
        for t in self.transactions:
            days[(t.departure_date - start).days] += t.quantity
        return days


@dataclass(frozen=True, slots=True)
class SampleData:
    """Everything :func:`~service.devkit.sample_data.generate` produced, in tenant order."""

    seed: int
    start: dt.date
    end: dt.date
    tenants: tuple[str, ...]
    datasets: tuple[Dataset, ...]

    def of_tenant(self, tenant_id: str) -> list[Dataset]:
        """The datasets of one tenant."""
        return [d for d in self.datasets if d.tenant_id == tenant_id]


@dataclass(frozen=True, slots=True)
class SampleEvent:
    """One Kafka record to publish on the ``sales-updated`` topic.

    ``expected_valid`` says whether the service should accept it; ``label`` says why not
    (``"invalid:<kind>"``) or names it (``"valid"``, ``"replay"``). ``transaction_count`` is the
    number of transactions the service should account for (0 for invalid events).
    """

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    expected_valid: bool
    label: str
    tenant_id: str = ""
    dataset_id: str = ""
    transaction_count: int = 0


@dataclass(frozen=True, slots=True)
class TenantSummary:
    """What the demo should expect for one tenant (or, summed, for all)."""

    datasets: int = 0
    datasets_with_prices: int = 0
    valid_events: int = 0
    invalid_events: int = 0
    transactions: int = 0
    bytes: int = 0
    patterns: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: TenantSummary) -> TenantSummary:
        """Field-wise sum, so ``sum(summaries.values(), TenantSummary())`` gives the totals."""
        patterns = dict(self.patterns)
        for name, count in other.patterns.items():
            patterns[name] = patterns.get(name, 0) + count
        return TenantSummary(
            datasets=self.datasets + other.datasets,
            datasets_with_prices=self.datasets_with_prices + other.datasets_with_prices,
            valid_events=self.valid_events + other.valid_events,
            invalid_events=self.invalid_events + other.invalid_events,
            transactions=self.transactions + other.transactions,
            bytes=self.bytes + other.bytes,
            patterns=patterns,
        )
