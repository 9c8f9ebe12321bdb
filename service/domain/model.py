"""Domain values: what a sales-updated event means once it crossed the edge.

Immutable values; the Kafka/JSON edge (``service/codec.py``) builds them from the validated
wire models, so nothing here knows about pydantic, Kafka or HTTP. The two built for every
consumed event, :class:`Txn` and :class:`SalesEvent`, are named tuples (about a third of the
cost of a frozen dataclass to build); the rest are frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Txn(NamedTuple):
    """One sales transaction (the IO API merges uploads by ``id``)."""

    id: str
    date: str  # YYYY-MM-DD
    quantity: float
    unit_price: float | None = None
    unit_cost: float | None = None


@dataclass(frozen=True, slots=True)
class Period:
    """``value`` steps of ``granularity`` (D, W or M)."""

    value: int
    granularity: str


@dataclass(frozen=True, slots=True)
class StockItem:
    """The planner's parameters for a stock item (IO's Create Prediction inputs)."""

    inventory: float
    service_level: float
    time_to_next_order: Period
    supplier_id: str
    lead_time: Period


@dataclass(frozen=True, slots=True)
class ForecastSpec:
    frequency: str
    horizon: int


class SalesEvent(NamedTuple):
    """A valid sales-updated event, with where it came from and how big it was."""

    tenant: str
    dataset: str
    transactions: tuple[Txn, ...]
    offset: int
    size: int
    stock_item: StockItem | None = None
    forecast: ForecastSpec | None = None
    retrain: bool = False
