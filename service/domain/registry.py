"""The dataset registry: what io-bridge knows about each dataset and tenant between runs.

Persisted record by record in the state changelog (key ``tenant|dataset|id`` and
``tenant|tenant|id``) and rebuilt from it on partition assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from service.domain.model import StockItem


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    """A dataset's trained model parameters and planning data."""

    tenant: str
    dataset: str
    frequency: str | None = None
    horizon: int | None = None
    trained_at: float | None = None
    has_price: bool = False
    stock_item: StockItem | None = None

    def trained(self, frequency: str, horizon: int, at: float) -> DatasetRecord:
        return replace(self, frequency=frequency, horizon=horizon, trained_at=at)


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """When the tenant was last classified, and how many datasets that classification covered."""

    tenant: str
    classified_at: float | None = None
    classified_datasets: int = 0


@dataclass(slots=True)
class Registry:
    """Datasets and tenants of one partition (a partition may hold ~170,000 datasets).

    Datasets are kept per tenant (tenant → dataset id → record): classification asks for one
    tenant's datasets after every prediction run, which then costs that tenant's size, not the
    partition's; and one small dict per tenant takes less memory than tuple keys in one dict.
    """

    datasets: dict[str, dict[str, DatasetRecord]] = field(default_factory=dict)
    tenants: dict[str, TenantRecord] = field(default_factory=dict)

    def dataset(self, tenant: str, dataset: str) -> DatasetRecord | None:
        own = self.datasets.get(tenant)
        return None if own is None else own.get(dataset)

    def put(self, record: DatasetRecord) -> None:
        self.datasets.setdefault(record.tenant, {})[record.dataset] = record

    def tenant(self, tenant: str) -> TenantRecord:
        return self.tenants.get(tenant) or TenantRecord(tenant)

    def put_tenant(self, record: TenantRecord) -> None:
        self.tenants[record.tenant] = record

    def priced_datasets(self, tenant: str) -> list[str]:
        """Trained datasets of the tenant with price data: what classification can use."""
        own = self.datasets.get(tenant, {})
        return sorted(d for d, r in own.items() if r.has_price and r.trained_at is not None)
