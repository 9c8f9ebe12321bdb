"""Per-(partition, tenant) batches: dedupe, latest snapshot wins, flush on size, bytes or age."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.domain.model import ForecastSpec, SalesEvent, StockItem, Txn


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_datasets: int
    max_bytes: int
    linger_seconds: float


@dataclass(slots=True)
class DatasetBatch:
    """Everything a batch holds for one dataset."""

    txns: dict[str, Txn] = field(default_factory=dict)
    offsets: list[int] = field(default_factory=list)
    stock_item: StockItem | None = None
    forecast: ForecastSpec | None = None
    retrain: bool = False

    @property
    def has_price(self) -> bool:
        return any(t.unit_price is not None for t in self.txns.values())

    def add(self, event: SalesEvent) -> None:
        # Dedupe by transactionId (last wins, as the IO API's merge does); latest snapshot wins.
        txns = self.txns
        for txn in event.transactions:
            txns[txn.id] = txn
        self.offsets.append(event.offset)
        if event.stock_item is not None:
            self.stock_item = event.stock_item
        if event.forecast is not None:
            self.forecast = event.forecast
        if event.retrain:
            self.retrain = True


@dataclass(slots=True)
class Batch:
    """One tenant's pending events on one partition; flushing it makes a run."""

    tenant: str
    partition: int
    opened_at: float
    datasets: dict[str, DatasetBatch] = field(default_factory=dict)
    size: int = 0

    def add(self, event: SalesEvent) -> None:
        dataset = self.datasets.get(event.dataset)
        if dataset is None:
            dataset = self.datasets[event.dataset] = DatasetBatch()
        dataset.add(event)
        self.size += event.size

    @property
    def offsets(self) -> list[int]:
        return [o for ds in self.datasets.values() for o in ds.offsets]

    def trigger(self, now: float, limits: BatchLimits) -> str | None:
        """Why this batch should flush now ("datasets", "bytes", "linger"), or None."""
        if len(self.datasets) >= limits.max_datasets:
            return "datasets"
        if self.size >= limits.max_bytes:
            return "bytes"
        if now - self.opened_at >= limits.linger_seconds:
            return "linger"
        return None


@dataclass(slots=True)
class Batcher:
    """The open batches of one partition, one per tenant."""

    partition: int
    limits: BatchLimits
    batches: dict[str, Batch] = field(default_factory=dict)
    _pending_bytes: int = field(default=0, init=False, repr=False)  # Σ batch.size, by add, take

    def add(self, event: SalesEvent, now: float) -> None:
        batch = self.batches.get(event.tenant)
        if batch is None:
            batch = self.batches[event.tenant] = Batch(event.tenant, self.partition, now)
        batch.add(event)
        self._pending_bytes += event.size

    def due(self, now: float) -> list[tuple[str, str]]:
        """(tenant, trigger) of every batch that should flush now, oldest first."""
        ready = [(b.opened_at, t, b.trigger(now, self.limits)) for t, b in self.batches.items()]
        return [(tenant, why) for _, tenant, why in sorted(ready) if why is not None]

    def take(self, tenant: str) -> Batch:
        batch = self.batches.pop(tenant)
        self._pending_bytes -= batch.size
        return batch

    def full(self, tenant: str) -> bool:
        """True when the tenant's batch reached a size limit (it must flush before growing)."""
        batch = self.batches.get(tenant)
        return batch is not None and batch.trigger(batch.opened_at, self.limits) is not None

    @property
    def pending_bytes(self) -> int:
        """Bytes of all open batches (read after every fetch: no scan of the batches)."""
        return self._pending_bytes
