"""The sample ERP data: deterministic, valid where it says so, recognisable, and replayable."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.events import MAX_TRANSACTIONS_PER_EVENT, SALES_UPDATED_TYPE, SalesUpdated
from service.devkit.sample_data import (
    Dataset,
    Pattern,
    SampleData,
    SampleEvent,
    TenantSummary,
    events,
    generate,
    group_into_events,
    read_transactions,
    summarize,
    transaction_rows,
    write_transactions,
)
from service.devkit.sample_events import default_invalid_count
from service.devkit.sample_invalid import INVALID_KINDS
from service.devkit.sample_wire import SALES_UPDATED_TYPE as SAMPLE_TYPE
from service.devkit.sample_wire import transaction_json

END = dt.date(2025, 6, 30)
STRUCTURED = "application/cloudevents+json"
# What each invalid kind must fail on: a decoding stage, or exactly one (loc, type) model error.
EXPECTED_FAILURE: dict[str, object] = {
    "malformed-json": "json",
    "non-utf8-bytes": "utf-8",
    "missing-tenant-id": [(("tenantId",), "missing")],
    "empty-transactions": [(("transactions",), "too_short")],
    "negative-quantity": [(("transactions", 1, "quantity"), "greater_than_equal")],
    "bad-date-string": [(("transactions", 0, "departureDate"), "date_from_datetime_parsing")],
    "nan-quantity": [(("transactions", 0, "quantity"), "finite_number")],
    "far-future-date": [(("transactions", 2, "departureDate"), "value_error")],
    "wrong-type": [(("transactions", 0, "quantity"), "float_parsing")],
    "too-many-transactions": [(("transactions",), "too_long")],
}


@pytest.fixture(scope="module")
def small() -> SampleData:
    """2 tenants × 12 products × one year."""
    return generate(tenants=2, products=12, days=365, seed=7, end=END)


@pytest.fixture(scope="module")
def wide() -> SampleData:
    """2 tenants × 100 products × four months: enough products for revenue statistics."""
    return generate(tenants=2, products=100, days=120, seed=11, end=END)


@pytest.fixture(scope="module")
def mixed(small: SampleData) -> list[SampleEvent]:
    """The small sample's stream in mixed envelopes, with every invalid kind three times."""
    return list(events(small, envelope="mixed", invalid=3 * len(INVALID_KINDS)))


def headers_of(event: SampleEvent) -> dict[str, bytes]:
    """The record headers as a dict."""
    return dict(event.headers)


def decode(event: SampleEvent) -> object:
    """The sales-updated data of a record, unwrapping a structured CloudEvent."""
    document = json.loads(event.value.decode("utf-8"))
    if headers_of(event).get("content-type") == STRUCTURED.encode():
        return document["data"]
    return document


def validate(event: SampleEvent, today: dt.date = END) -> SalesUpdated:
    """Validate a record the way the service does."""
    return SalesUpdated.model_validate(decode(event), context={"today": today})


def failure_of(event: SampleEvent) -> object:
    """Where a record fails: ``"utf-8"``, ``"json"``, the model errors, or ``None``."""
    try:
        validate(event)
    except UnicodeDecodeError:
        return "utf-8"
    except json.JSONDecodeError:
        return "json"
    except ValidationError as error:
        return [(e["loc"], e["type"]) for e in error.errors()]
    return None


def quantities(data: SampleData, pattern: Pattern) -> list[list[int]]:
    """Daily quantity series of every dataset with ``pattern``."""
    return [d.daily_quantities(data.start, data.end) for d in data.datasets if d.pattern is pattern]


def grouped_mean(
    data: SampleData, series: Sequence[int], key: Callable[[dt.date], int]
) -> list[float]:
    """Mean daily quantity per ``key`` of the date (weekday, month, ...)."""
    groups: dict[int, list[int]] = defaultdict(list)
    for offset, quantity in enumerate(series):
        groups[key(data.start + dt.timedelta(days=offset))].append(quantity)
    return [statistics.mean(groups[k]) for k in sorted(groups)]


def spread(means: Sequence[float]) -> float:
    """Ratio of the largest to the smallest mean."""
    return max(means) / max(min(means), 1e-9)


def growth(series: Sequence[int]) -> float:
    """Mean of the second half over the mean of the first."""
    half = len(series) // 2
    return statistics.mean(series[half:]) / statistics.mean(series[:half])


def zero_share(series: Sequence[int]) -> float:
    """Share of days without demand."""
    return series.count(0) / len(series)


# ------------------------------------------------------------------ determinism


def test_the_same_seed_gives_identical_bytes(small: SampleData) -> None:
    """Generating and serialising twice with one seed yields the very same records."""
    again = generate(tenants=2, products=12, days=365, seed=7, end=END)
    first = [(e.key, e.value, e.headers) for e in events(small, envelope="mixed")]
    second = [(e.key, e.value, e.headers) for e in events(again, envelope="mixed")]
    assert first == second


def test_a_different_seed_gives_different_data(small: SampleData) -> None:
    """Another seed changes the sales and the stream."""
    other = generate(tenants=2, products=12, days=365, seed=8, end=END)
    assert other.datasets != small.datasets
    assert [e.value for e in events(other)] != [e.value for e in events(small)]


# ------------------------------------------------------------------ the data


def test_the_pattern_mix_is_roughly_even(small: SampleData) -> None:
    """Each tenant has two of each pattern family; trends split into one up and one down."""
    for tenant in small.tenants:
        counts = Counter(d.pattern for d in small.of_tenant(tenant))
        assert counts[Pattern.TRENDING_UP] == counts[Pattern.TRENDING_DOWN] == 1
        assert all(counts[p] == 2 for p in Pattern if not p.startswith("trending"))


def test_ids_follow_the_erp_conventions(small: SampleData) -> None:
    """Tenants are tenant-NNN, datasets sku-NNNNN, transactions <dataset>-<YYYYMMDD>-<n>."""
    assert small.tenants == ("tenant-001", "tenant-002")
    assert [d.dataset_id for d in small.of_tenant("tenant-001")][:2] == ["sku-00001", "sku-00002"]
    first = small.datasets[0].transactions[0]
    assert first.transaction_id.startswith(f"sku-00001-{first.departure_date:%Y%m%d}-")


def test_no_transaction_id_repeats_within_a_dataset(small: SampleData) -> None:
    """Transaction ids are unique per dataset, and history is sorted by date."""
    for d in small.datasets:
        ids = [t.transaction_id for t in d.transactions]
        assert len(ids) == len(set(ids))
        assert [t.departure_date for t in d.transactions] == sorted(
            t.departure_date for t in d.transactions
        )


def test_transactions_have_positive_quantities_and_cost_below_price(small: SampleData) -> None:
    """Every line sells something within the date range; priced lines cost less than their price."""
    for d in small.datasets:
        for t in d.transactions:
            assert t.quantity > 0
            assert small.start <= t.departure_date <= small.end
            if d.has_prices:
                assert t.unit_cost is not None
                assert t.unit_price is not None
                assert 0 < t.unit_cost < t.unit_price
            else:
                assert t.unit_price is None
                assert t.unit_cost is None


def test_a_few_products_per_tenant_have_no_price_data(wide: SampleData) -> None:
    """About 5 % of each tenant's products carry no prices, so classification skips them."""
    for tenant in wide.tenants:
        assert sum(not d.has_prices for d in wide.of_tenant(tenant)) == 5


def test_revenue_follows_a_pareto_spread(wide: SampleData) -> None:
    """The top 20 % of priced products earn at least half of each tenant's revenue."""
    for tenant in wide.tenants:
        revenues = sorted((d.revenue for d in wide.of_tenant(tenant) if d.has_prices), reverse=True)
        top = round(len(revenues) * 0.2)
        assert sum(revenues[:top]) >= 0.5 * sum(revenues)


def test_planning_snapshots_and_forecast_specs_are_plausible(wide: SampleData) -> None:
    """Service levels lie in 0.9–0.99, W dominates the frequencies, and D and M occur."""
    frequencies = Counter(d.forecast.frequency for d in wide.datasets)
    assert all(0.9 <= d.stock_item.wanted_service_level <= 0.99 for d in wide.datasets)
    assert frequencies["W"] > frequencies["D"] + frequencies["M"]
    assert frequencies["D"] > 0
    assert frequencies["M"] > 0


# ------------------------------------------------------------------ demand patterns


def test_intermittent_and_lumpy_datasets_mostly_sell_nothing(small: SampleData) -> None:
    """More than 40 % of their days have no demand; smooth datasets sell almost daily."""
    for pattern in (Pattern.INTERMITTENT, Pattern.LUMPY):
        assert all(zero_share(q) > 0.4 for q in quantities(small, pattern))
    assert all(zero_share(q) < 0.1 for q in quantities(small, Pattern.SMOOTH))


def test_lumpy_order_sizes_vary_far_more_than_intermittent_ones(small: SampleData) -> None:
    """CV² of the non-zero demand sizes: below 0.49 when intermittent, above when lumpy."""

    def cv2(series: list[int]) -> float:
        sizes = [q for q in series if q]
        return statistics.pvariance(sizes) / statistics.mean(sizes) ** 2

    assert all(cv2(q) < 0.49 for q in quantities(small, Pattern.INTERMITTENT))
    assert all(cv2(q) > 0.49 for q in quantities(small, Pattern.LUMPY))


def test_weekly_seasonal_datasets_have_markedly_different_weekday_means(small: SampleData) -> None:
    """The busiest weekday sells over twice the quietest; smooth datasets stay under 1.5×."""
    weekday = dt.date.weekday
    weekly = [
        spread(grouped_mean(small, q, weekday)) for q in quantities(small, Pattern.WEEKLY_SEASONAL)
    ]
    smooth = [spread(grouped_mean(small, q, weekday)) for q in quantities(small, Pattern.SMOOTH)]
    assert min(weekly) > 2
    assert max(smooth) < 1.5


def test_yearly_seasonal_datasets_have_a_peak_season(small: SampleData) -> None:
    """The best calendar month sells over three times the worst."""
    for series in quantities(small, Pattern.YEARLY_SEASONAL):
        assert spread(grouped_mean(small, series, lambda day: day.month)) > 3


def test_trending_datasets_change_by_more_than_20_percent(small: SampleData) -> None:
    """The second half's mean differs from the first's by > 20 % in the trend's direction."""
    assert all(growth(q) > 1.2 for q in quantities(small, Pattern.TRENDING_UP))
    assert all(growth(q) < 0.8 for q in quantities(small, Pattern.TRENDING_DOWN))
    assert all(0.85 < growth(q) < 1.15 for q in quantities(small, Pattern.SMOOTH))


# ------------------------------------------------------------------ the event stream


def test_every_valid_event_validates_as_sales_updated(
    small: SampleData, mixed: list[SampleEvent]
) -> None:
    """Valid records pass SalesUpdated, keyed by their tenant, with the counted transactions."""
    valid = [e for e in mixed if e.expected_valid]
    for event in valid:
        model = validate(event)
        assert event.key == model.tenant_id.encode() == event.tenant_id.encode()
        assert len(model.transactions) == event.transaction_count
    assert sum(e.transaction_count for e in valid) == sum(
        len(d.transactions) for d in small.datasets
    )


def test_every_invalid_event_fails_for_its_labelled_reason(mixed: list[SampleEvent]) -> None:
    """Each invalid kind fails decoding or the model, on exactly its own field."""
    invalid = [e for e in mixed if not e.expected_valid]
    assert Counter(e.label for e in invalid) == {f"invalid:{k}": 3 for k in INVALID_KINDS}
    for event in invalid:
        assert failure_of(event) == EXPECTED_FAILURE[event.label.removeprefix("invalid:")], (
            event.label
        )


def test_invalid_events_carry_no_transaction_of_a_valid_event(mixed: list[SampleEvent]) -> None:
    """The transaction ids in invalid records never occur in valid ones."""
    pattern = re.compile(r'"transactionId":"([^"]+)"')

    def ids(group: list[SampleEvent]) -> set[str]:
        return {i for e in group for i in pattern.findall(e.value.decode("latin-1"))}

    assert ids([e for e in mixed if not e.expected_valid])
    assert not ids([e for e in mixed if e.expected_valid]) & ids(
        [e for e in mixed if not e.expected_valid]
    )


def test_the_default_stream_is_about_half_a_percent_invalid_with_every_kind(
    wide: SampleData,
) -> None:
    """Without ``invalid=``, ~0.5 % of the records are invalid and every kind shows up."""
    stream = list(events(wide))
    valid = sum(e.expected_valid for e in stream)
    labels = {e.label for e in stream if not e.expected_valid}
    assert (
        len(stream) - valid
        == default_invalid_count(valid)
        == max(len(INVALID_KINDS), round(valid * 0.005))
    )
    assert labels == {f"invalid:{k}" for k in INVALID_KINDS}


def test_the_oversized_kind_exceeds_the_schema_limit_by_one(small: SampleData) -> None:
    """The too-many-transactions record holds exactly one more line than SalesUpdated allows."""
    (event,) = [
        e
        for e in events(small, invalid=len(INVALID_KINDS))
        if e.label.endswith("too-many-transactions")
    ]
    data = decode(event)
    assert isinstance(data, dict)
    assert len(data["transactions"]) == MAX_TRANSACTIONS_PER_EVENT + 1


def test_datasets_arrive_in_chronological_chunks_with_the_snapshot_last(small: SampleData) -> None:
    """Per dataset, records run in time order within both limits; only the last has stockItem."""
    per_dataset: dict[tuple[str, str], list[SalesUpdated]] = defaultdict(list)
    for event in events(small, transactions_per_event=40, days_per_event=30, invalid=0):
        model = validate(event)
        per_dataset[model.tenant_id, model.dataset_id].append(model)
    for chunks in per_dataset.values():
        dates = [[t.departure_date for t in c.transactions] for c in chunks]
        assert all(len(d) <= 40 and (d[-1] - d[0]).days < 30 for d in dates)
        assert all(a[-1] <= b[0] for a, b in itertools.pairwise(dates))
        assert [c.stock_item is not None for c in chunks] == [False] * (len(chunks) - 1) + [True]
        assert all(c.forecast is not None for c in chunks)
    assert len(per_dataset) == len(small.datasets)


def test_every_event_can_carry_the_snapshot(small: SampleData) -> None:
    """``stock_items="all"`` puts the planning snapshot on every record."""
    assert all(validate(e).stock_item for e in events(small, invalid=0, stock_items="all"))


def test_tenants_and_datasets_are_interleaved_like_an_erp_stream(small: SampleData) -> None:
    """Consecutive records usually belong to different datasets, and tenants alternate often."""
    stream = list(events(small, invalid=0))
    pairs = list(itertools.pairwise(stream))
    assert sum(
        a.dataset_id != b.dataset_id or a.tenant_id != b.tenant_id for a, b in pairs
    ) > 0.8 * len(pairs)
    assert sum(a.key != b.key for a, b in pairs) > 0.3 * len(pairs)


# ------------------------------------------------------------------ envelopes


def test_plain_records_are_bare_json_without_headers(small: SampleData) -> None:
    """Plain mode sends the data itself and no headers."""
    event = next(events(small, envelope="plain"))
    assert event.headers == []
    assert json.loads(event.value)["tenantId"] == event.tenant_id


def test_structured_cloudevents_wrap_the_data_in_the_body(small: SampleData) -> None:
    """Structured mode: cloudevents+json content type, CloudEvents 1.0 attributes, data inside."""
    stream = list(events(small, envelope="structured", invalid=0))
    for event in stream:
        body = json.loads(event.value)
        assert event.headers == [("content-type", STRUCTURED.encode())]
        assert body["specversion"] == "1.0"
        assert body["type"] == SALES_UPDATED_TYPE
        assert body["source"] == f"/erp/{event.tenant_id}"
        assert body["datacontenttype"] == "application/json"
        assert body["data"]["datasetId"] == body["subject"] == event.dataset_id
    assert len({json.loads(e.value)["id"] for e in stream}) == len(stream)


def test_binary_cloudevents_carry_the_attributes_in_headers(small: SampleData) -> None:
    """Binary mode: ce_* headers plus application/json, and the body is the bare data."""
    stream = list(events(small, envelope="binary", invalid=0))
    structured = list(events(small, envelope="structured", invalid=0))
    for event, twin in zip(stream, structured, strict=True):
        headers = headers_of(event)
        assert headers["ce_specversion"] == b"1.0"
        assert headers["ce_type"] == SALES_UPDATED_TYPE.encode()
        assert headers["ce_source"] == f"/erp/{event.tenant_id}".encode()
        assert headers["content-type"] == b"application/json"
        assert headers["ce_id"].decode() == json.loads(twin.value)["id"]
        assert json.loads(event.value) == json.loads(twin.value)["data"]


def test_mixed_mode_uses_all_three_envelopes(mixed: list[SampleEvent]) -> None:
    """A mixed stream holds plain, structured and binary records."""
    kinds = Counter(headers_of(e).get("content-type", b"none") for e in mixed)
    assert set(kinds) == {b"none", STRUCTURED.encode(), b"application/json"}


def test_the_sample_event_type_matches_the_schema(small: SampleData) -> None:
    """The stdlib-only copy of the CloudEvents type equals the one in schemas.events."""
    assert SAMPLE_TYPE == SALES_UPDATED_TYPE


# ------------------------------------------------------------------ summary


def test_the_summary_counts_what_the_demo_should_expect(
    small: SampleData, mixed: list[SampleEvent]
) -> None:
    """Per tenant: datasets, priced datasets, valid and invalid records, transactions, patterns."""
    summary = summarize(small, mixed)
    total = sum(summary.values(), TenantSummary())
    assert set(summary) == set(small.tenants)
    assert all(s.datasets == 12 and s.datasets_with_prices == 11 for s in summary.values())
    assert sum(summary["tenant-001"].patterns.values()) == 12
    assert total.valid_events == sum(e.expected_valid for e in mixed)
    assert total.invalid_events == 3 * len(INVALID_KINDS)
    assert total.transactions == sum(e.transaction_count for e in mixed)
    assert total.bytes == sum(len(e.value) for e in mixed)


# ------------------------------------------------------------------ partner exports


def wire_lines(data: SampleData) -> set[tuple[str, str, str]]:
    """Every transaction of ``data`` as (tenant, dataset, canonical JSON)."""
    return {
        (d.tenant_id, d.dataset_id, json.dumps(transaction_json(t), sort_keys=True))
        for d in data.datasets
        for t in d.transactions
    }


def replayed_lines(stream: list[SampleEvent]) -> set[tuple[str, str, str]]:
    """Every transaction in a replayed stream, after validating each record."""
    found = set()
    for event in stream:
        validate(event)
        data = decode(event)
        assert isinstance(data, dict)
        for line in data["transactions"]:
            found.add((data["tenantId"], data["datasetId"], json.dumps(line, sort_keys=True)))
    return found


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_an_export_round_trips_through_the_reader(
    small: SampleData, tmp_path: Path, suffix: str
) -> None:
    """Writing the sample as CSV or JSONL and replaying it gives back every transaction."""
    path = tmp_path / f"export{suffix}"
    assert write_transactions(transaction_rows(small), path) == len(wire_lines(small))
    stream = list(group_into_events(read_transactions(path), transactions_per_event=100))
    assert all(e.expected_valid and e.transaction_count <= 100 for e in stream)
    assert replayed_lines(stream) == wire_lines(small)


def test_the_csv_reader_accepts_snake_case_semicolons_and_decimal_commas(tmp_path: Path) -> None:
    """A European-style export: snake_case header, ';' separator, '12,50' prices, a BOM."""
    path = tmp_path / "export.csv"
    path.write_text(
        "\ufefftenant_id;dataset_id;transaction_id;departure_date;quantity;unit_price;unit_cost\n"
        "t-1;sku-1;a-1;2025-01-02;3;12,50;8,10\n"
        "t-1;sku-1;a-2;2025-01-03;1;;\n",
        encoding="utf-8",
    )
    rows = list(read_transactions(path))
    assert rows[0] == {
        "tenantId": "t-1",
        "datasetId": "sku-1",
        "transactionId": "a-1",
        "departureDate": "2025-01-02",
        "quantity": 3,
        "unitPrice": 12.5,
        "unitCost": 8.1,
    }
    assert "unitPrice" not in rows[1]


def test_problem_rows_are_passed_on_for_the_service_to_reject(tmp_path: Path) -> None:
    """Bad dates, missing ids and unparsable lines still become records, none silently dropped."""
    path = tmp_path / "export.jsonl"
    path.write_text(
        '{"tenantId": "t-1", "datasetId": "sku-1", "transactionId": "a",'
        ' "departureDate": "2/1/25", "quantity": 1}\n'
        '{"datasetId": "sku-2", "transactionId": "b",'
        ' "departureDate": "2025-01-02", "quantity": 1}\n'
        "not json at all\n",
        encoding="utf-8",
    )
    stream = list(group_into_events(read_transactions(path)))
    assert [e.label for e in stream] == ["replay:unparsable-line", "replay", "replay:missing-id"]
    assert [failure_of(e) is not None for e in stream] == [True, True, True]
    assert stream[0].value == b"not json at all"


def test_the_datasets_in_the_data_model_are_immutable(small: SampleData) -> None:
    """Datasets are frozen, so a test or the demo cannot change the sample under another."""
    dataset: Dataset = small.datasets[0]
    with pytest.raises(AttributeError):
        dataset.dataset_id = "x"  # type: ignore[misc]
