"""Batching per (partition, tenant): dedupe, latest snapshot wins, flush triggers."""

from __future__ import annotations

from service.domain.batching import Batcher, BatchLimits
from service.domain.model import ForecastSpec, Period, SalesEvent, StockItem, Txn

LIMITS = BatchLimits(max_datasets=3, max_bytes=1_000, linger_seconds=5.0)


def event(
    tenant: str,
    dataset: str,
    offset: int,
    *txns: Txn,
    size: int = 10,
    stock_item: StockItem | None = None,
    forecast: ForecastSpec | None = None,
) -> SalesEvent:
    txns = txns or (Txn(f"t{offset}", "2025-01-01", 1.0),)
    return SalesEvent(tenant, dataset, txns, offset, size, stock_item, forecast)


def stock(inventory: float) -> StockItem:
    return StockItem(inventory, 0.95, Period(2, "W"), "s1", Period(1, "W"))


def test_the_same_transaction_twice_is_kept_once_with_the_later_values() -> None:
    """Dedupe by (datasetId, transactionId): the last copy wins."""
    batcher = Batcher(0, LIMITS)
    batcher.add(event("a", "d1", 1, Txn("x", "2025-01-01", 1.0)), now=0)
    batcher.add(
        event("a", "d1", 2, Txn("x", "2025-01-01", 7.0), Txn("y", "2025-01-02", 2.0)), now=1
    )
    ds = batcher.batches["a"].datasets["d1"]
    assert {t.id: t.quantity for t in ds.txns.values()} == {"x": 7.0, "y": 2.0}
    assert ds.offsets == [1, 2]


def test_the_latest_stock_snapshot_and_forecast_spec_win_and_absent_ones_do_not_erase() -> None:
    """A later snapshot replaces an earlier one; an event without one keeps the earlier."""
    batcher = Batcher(0, LIMITS)
    batcher.add(event("a", "d1", 1, stock_item=stock(5), forecast=ForecastSpec("W", 4)), now=0)
    batcher.add(event("a", "d1", 2, stock_item=stock(9)), now=0)
    batcher.add(event("a", "d1", 3), now=0)
    ds = batcher.batches["a"].datasets["d1"]
    assert ds.stock_item == stock(9)
    assert ds.forecast == ForecastSpec("W", 4)


def test_tenants_batch_separately() -> None:
    """Each tenant of a partition has its own batch."""
    batcher = Batcher(0, LIMITS)
    batcher.add(event("a", "d1", 1), now=0)
    batcher.add(event("b", "d1", 2), now=0)
    assert sorted(batcher.batches) == ["a", "b"]
    assert batcher.pending_bytes == 20


def test_a_batch_flushes_on_dataset_count_bytes_or_age() -> None:
    """Each of the three limits triggers a flush, and nothing triggers before."""
    batcher = Batcher(0, LIMITS)
    for i, ds in enumerate(["d1", "d2"]):
        batcher.add(event("a", ds, i), now=0)
    assert batcher.due(now=1) == []
    batcher.add(event("a", "d3", 3), now=1)
    assert batcher.due(now=1) == [("a", "datasets")]
    batcher.add(event("b", "d1", 4, size=2_000), now=1)
    batcher.add(event("c", "d1", 5), now=1)
    assert ("b", "bytes") in batcher.due(now=1)
    assert ("c", "linger") in batcher.due(now=6.5)
    assert batcher.full("a")
    assert not batcher.full("c")


def test_taking_a_batch_removes_it() -> None:
    """take() hands the batch over and forgets it."""
    batcher = Batcher(0, LIMITS)
    batcher.add(event("a", "d1", 1), now=0)
    batch = batcher.take("a")
    assert batch.offsets == [1]
    assert batcher.batches == {}


def test_pending_bytes_count_the_open_batches_only() -> None:
    """Adding grows the pending bytes by the event's size; taking a batch gives its bytes back."""
    batcher = Batcher(0, LIMITS)
    batcher.add(event("a", "d1", 1, size=30), now=0)
    batcher.add(event("a", "d2", 2, size=12), now=0)
    batcher.add(event("b", "d1", 3, size=5), now=0)
    assert batcher.pending_bytes == 47
    batcher.take("a")
    assert batcher.pending_bytes == 5
    batcher.add(event("a", "d1", 4, size=8), now=1)
    assert batcher.pending_bytes == 13


def test_an_event_without_a_snapshot_or_a_retrain_request_keeps_the_earlier_ones() -> None:
    """retrain stays requested once an event of the batch asked for it."""
    batcher = Batcher(0, LIMITS)
    requested = SalesEvent("a", "d1", (Txn("x", "2025-01-01", 1.0),), 1, 10, retrain=True)
    batcher.add(requested, now=0)
    batcher.add(event("a", "d1", 2), now=0)
    assert batcher.batches["a"].datasets["d1"].retrain


def test_a_fourth_dataset_seals_a_full_batch_and_opens_the_next() -> None:
    """max_datasets=3 caps the upload: d4 goes into a new batch; the sealed one flushes first,
    and more events of its datasets go to the open batch, after it (order kept)."""
    batcher = Batcher(0, LIMITS)
    for offset, dataset in enumerate(["d1", "d2", "d3", "d4", "d1"]):
        batcher.add(event("a", dataset, offset), now=offset)
    assert batcher.full("a")
    assert batcher.due(now=5) == [("a", "datasets")]
    first = batcher.take("a")
    assert (list(first.datasets), first.offsets) == (["d1", "d2", "d3"], [0, 1, 2])
    assert batcher.due(now=5) == []  # the open batch is neither full nor old
    second = batcher.take("a")
    assert (list(second.datasets), second.offsets) == (["d4", "d1"], [3, 4])
    assert batcher.pending_bytes == 0


def test_an_event_that_would_pass_max_bytes_starts_the_next_batch() -> None:
    """max_bytes=1,000: 600 + 600 would pass it, so the second event waits in its own batch;
    an event larger than the cap still travels (alone)."""
    batcher = Batcher(0, LIMITS)
    batcher.add(event("a", "d1", 1, size=600), now=0)
    batcher.add(event("a", "d1", 2, size=600), now=0)
    batcher.add(event("a", "d1", 3, size=5_000), now=0)
    sizes = []
    while batcher.due(now=10):
        sizes.append(batcher.take("a").size)
    assert sizes == [600, 600, 5_000]
    assert batcher.pending_bytes == 0


def test_sealed_batches_count_in_pending_bytes_and_keep_the_tenant_full() -> None:
    """Back-pressure sees every held byte, and the tenant stays full while a sealed batch
    waits, even once its open batch is small."""
    batcher = Batcher(0, LIMITS)
    for offset, dataset in enumerate(["d1", "d2", "d3", "d4"]):
        batcher.add(event("a", dataset, offset), now=0)
    assert batcher.pending_bytes == 40
    assert batcher.full("a")
    batcher.take("a")
    assert not batcher.full("a")
    assert batcher.pending_bytes == 10
