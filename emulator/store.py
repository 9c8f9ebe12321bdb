"""Per-tenant storage of uploaded transactions and trained models.

A dataset is kept as immutable numpy arrays sorted by a stable 64-bit hash of
``transactionId``; a merge builds new arrays and swaps the reference, so job threads can read a
snapshot while the event loop merges. Merging replaces transactions whose id is already stored
and adds the rest (contract §3.2), so re-uploading the same body changes nothing. A tenant only
ever sees its own datasets and models.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from emulator.analytics.calendar import FloatArray, IntArray


def transaction_key(transaction_id: str) -> int:
    """A stable 64-bit key of a transaction id (BLAKE2b; collisions are ~2⁻⁶⁴ per pair)."""
    digest = hashlib.blake2b(transaction_id.encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "little", signed=True)


@dataclass(frozen=True)
class Transactions:
    """Columns of a set of transactions; price/cost are NaN where not given."""

    keys: IntArray
    days: IntArray
    quantity: FloatArray
    price: FloatArray
    cost: FloatArray

    def __len__(self) -> int:
        return int(self.keys.size)

    def take(self, index: IntArray | np.ndarray[Any, np.dtype[np.bool_]]) -> Transactions:
        """The rows at ``index``."""
        return Transactions(
            self.keys[index],
            self.days[index],
            self.quantity[index],
            self.price[index],
            self.cost[index],
        )

    @staticmethod
    def concat(parts: Iterable[Transactions]) -> Transactions:
        """All rows of ``parts`` in order."""
        items = list(parts)
        return Transactions(*(np.concatenate([getattr(p, f) for p in items]) for f in _FIELDS))


_FIELDS = ("keys", "days", "quantity", "price", "cost")


@dataclass(frozen=True)
class Dataset:
    """One dataset's stored transactions (sorted by key) and its daily sales."""

    rows: Transactions
    first_day: int
    daily: FloatArray

    @staticmethod
    def of(rows: Transactions) -> Dataset:
        """Build from rows already deduplicated and sorted by key."""
        first = int(rows.days.min())
        daily = np.bincount(rows.days - first, weights=rows.quantity).astype(np.float64)
        return Dataset(rows, first, daily)

    @property
    def last_day(self) -> int:
        """Day number of the last day with a transaction."""
        return self.first_day + self.daily.size - 1


def merge(old: Dataset | None, new: Transactions) -> tuple[Dataset, int, int]:
    """``old`` with ``new`` merged in (last one wins per key): (dataset, added, replaced)."""
    rows = new if old is None else Transactions.concat([old.rows, new])
    order = np.argsort(rows.keys, kind="stable")
    keys = rows.keys[order]
    last = np.append(keys[1:] != keys[:-1], True)
    merged = rows.take(order[last])
    before = 0 if old is None else len(old.rows)
    added = len(merged) - before
    return Dataset.of(merged), added, int(np.unique(new.keys).size) - added


class Store:
    """Datasets and trained models of every tenant."""

    def __init__(self) -> None:
        self.datasets: dict[str, dict[str, Dataset]] = {}
        self.models: dict[str, dict[str, Any]] = {}

    def get(self, tenant: str, dataset_id: str) -> Dataset | None:
        """The tenant's dataset, or None."""
        return self.datasets.get(tenant, {}).get(dataset_id)

    def put(self, tenant: str, dataset_id: str, rows: Transactions) -> tuple[int, int]:
        """Merge rows into the tenant's dataset: (added, replaced)."""
        dataset, added, replaced = merge(self.get(tenant, dataset_id), rows)
        self.datasets.setdefault(tenant, {})[dataset_id] = dataset
        return added, replaced

    def delete(self, tenant: str, dataset_id: str, first: int | None, last: int | None) -> int:
        """Delete the dataset's transactions in ``[first, last]``: distinct months deleted.

        Raises ``KeyError`` when the tenant has no such dataset. Deleting everything also
        forgets the dataset's trained model.
        """
        dataset = self.datasets.get(tenant, {})[dataset_id]
        days = dataset.rows.days
        hit = np.ones(days.size, dtype=bool)
        if first is not None:
            hit &= days >= first
        if last is not None:
            hit &= days <= last
        months = np.unique(days[hit].astype("datetime64[D]").astype("datetime64[M]")).size
        if hit.all():
            del self.datasets[tenant][dataset_id]
            self.models.get(tenant, {}).pop(dataset_id, None)
        elif hit.any():
            self.datasets[tenant][dataset_id] = Dataset.of(dataset.rows.take(~hit))
        return int(months)

    def counts(self) -> dict[str, int]:
        """Datasets stored per tenant."""
        return {tenant: len(sets) for tenant, sets in self.datasets.items() if sets}

    def clear(self) -> None:
        """Forget everything."""
        self.datasets.clear()
        self.models.clear()
