"""Per-(partition, tenant) batches: dedupe, latest snapshot wins, flush on size, bytes or age."""

from __future__ import annotations

from collections import deque
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
    """The batches of one partition: per tenant, one open batch and, behind it, the full ones
    sealed while the tenant's run was busy (oldest first).

    The size limits are caps, not only triggers: an event that would take the open batch past
    ``max_datasets`` or ``max_bytes`` seals it and opens the next, so no upload exceeds them
    however many records one fetch brings (one event larger than ``max_bytes`` travels alone).
    """

    partition: int
    limits: BatchLimits
    batches: dict[str, Batch] = field(default_factory=dict)
    sealed: dict[str, deque[tuple[Batch, str]]] = field(default_factory=dict)
    _pending_bytes: int = field(default=0, init=False, repr=False)  # Σ batch.size, by add, take

    def add(self, event: SalesEvent, now: float) -> None:
        batch = self.batches.get(event.tenant)
        if batch is not None and (why := self._overflow(batch, event)) is not None:
            self.sealed.setdefault(event.tenant, deque()).append((batch, why))
            batch = None
        if batch is None:
            batch = self.batches[event.tenant] = Batch(event.tenant, self.partition, now)
        batch.add(event)
        self._pending_bytes += event.size

    def _overflow(self, batch: Batch, event: SalesEvent) -> str | None:
        """The limit ``event`` would take ``batch`` past, or None."""
        limits = self.limits
        if event.dataset not in batch.datasets and len(batch.datasets) >= limits.max_datasets:
            return "datasets"
        if batch.size and batch.size + event.size > limits.max_bytes:
            return "bytes"
        return None

    def due(self, now: float) -> list[tuple[str, str]]:
        """(tenant, trigger) of every tenant whose next batch should flush now, oldest first."""
        ready: list[tuple[float, str, str | None]] = []
        for tenant, batch in self.batches.items():
            waiting = self.sealed.get(tenant)
            if waiting:
                first, why = waiting[0]
                ready.append((first.opened_at, tenant, why))
            else:
                ready.append((batch.opened_at, tenant, batch.trigger(now, self.limits)))
        return [(tenant, why) for _, tenant, why in sorted(ready) if why is not None]

    def take(self, tenant: str) -> Batch:
        """The tenant's oldest batch: a sealed one if any, else the open one."""
        waiting = self.sealed.get(tenant)
        if waiting:
            batch, _ = waiting.popleft()
            if not waiting:
                del self.sealed[tenant]
        else:
            batch = self.batches.pop(tenant)
        self._pending_bytes -= batch.size
        return batch

    def full(self, tenant: str) -> bool:
        """True when the tenant has a batch at a size limit (it must flush before more is read)."""
        if tenant in self.sealed:
            return True
        batch = self.batches.get(tenant)
        return batch is not None and batch.trigger(batch.opened_at, self.limits) is not None

    @property
    def pending_bytes(self) -> int:
        """Bytes of all open and sealed batches (read after every fetch: no scan of them)."""
        return self._pending_bytes
