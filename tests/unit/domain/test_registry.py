"""The dataset registry's per-tenant index of datasets that classification can use."""

from __future__ import annotations

from service.domain.registry import DatasetRecord, Registry


def record(
    tenant: str, dataset: str, *, priced: bool = True, trained: bool = True
) -> DatasetRecord:
    return DatasetRecord(tenant, dataset, "W", 12, 1.0 if trained else None, priced)


def test_priced_datasets_lists_only_the_tenants_trained_datasets_with_prices_sorted() -> None:
    """Untrained, unpriced and other tenants' datasets are left out; ids come back sorted."""
    registry = Registry()
    for item in (
        record("t1", "d3"),
        record("t1", "d1"),
        record("t1", "untrained", trained=False),
        record("t1", "unpriced", priced=False),
        record("t2", "d2"),
    ):
        registry.put(item)
    assert registry.priced_datasets("t1") == ["d1", "d3"]
    assert registry.priced_datasets("t2") == ["d2"]
    assert registry.priced_datasets("unknown") == []


def test_a_dataset_enters_and_leaves_the_index_as_its_latest_record_changes() -> None:
    """put() replaces a dataset's record, and the index follows the latest one."""
    registry = Registry()
    registry.put(record("t", "d", trained=False))
    assert registry.priced_datasets("t") == []
    registry.put(record("t", "d", trained=False).trained("W", 12, at=5.0))
    assert registry.priced_datasets("t") == ["d"]
    registry.put(record("t", "d", priced=False))
    assert registry.priced_datasets("t") == []
    assert registry.dataset("t", "d") == record("t", "d", priced=False)


def test_datasets_are_found_by_tenant_and_id_and_kept_per_tenant() -> None:
    """dataset() finds a record under its tenant only; the registry groups records by tenant."""
    registry = Registry()
    registry.put(record("t1", "d"))
    registry.put(record("t2", "d", priced=False))
    assert registry.dataset("t1", "d") == record("t1", "d")
    assert registry.dataset("t2", "d") == record("t2", "d", priced=False)
    assert registry.dataset("t1", "other") is None
    assert registry.dataset("t3", "d") is None
    assert {t: sorted(own) for t, own in registry.datasets.items()} == {"t1": ["d"], "t2": ["d"]}


def test_priced_datasets_agree_with_a_scan_of_every_record_put() -> None:
    """For a mixed registry of many tenants, each tenant's answer is what filtering every record
    put (the latest per dataset) gives."""
    registry = Registry()
    latest: dict[tuple[str, str], DatasetRecord] = {}
    for n in range(3_000):
        item = record(f"t{n % 7}", f"d{n % 400}", priced=n % 3 != 0, trained=n % 5 != 0)
        registry.put(item)
        latest[(item.tenant, item.dataset)] = item
    for tenant in (f"t{k}" for k in range(7)):
        scanned = sorted(
            r.dataset
            for (t, _), r in latest.items()
            if t == tenant and r.has_price and r.trained_at is not None
        )
        assert registry.priced_datasets(tenant) == scanned
