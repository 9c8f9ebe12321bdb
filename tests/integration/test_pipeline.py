"""The pipeline end to end: real broker, emulator over HTTP, io-bridge in this event loop."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping

import pytest

from service.adapters.io_api import IoApiClient
from service.config import Settings
from service.devkit.sample_data import generate
from service.devkit.sample_events import events as sample_events
from tests.pipeline_harness import (
    Collected,
    collect,
    pipeline_settings,
    produce,
    running_service,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


def by_dataset(records: list[Collected]) -> dict[tuple[str, str], list[Collected]]:
    grouped: dict[tuple[str, str], list[Collected]] = defaultdict(list)
    for r in records:
        grouped[(r.value["tenantId"], r.value["datasetId"])].append(r)
    return grouped


def source_offsets(records: list[Collected]) -> list[tuple[int, int]]:
    """(partition, offset) of every input record the events say they cover."""
    return [
        (r.value["source"]["partition"], o) for r in records for o in r.value["source"]["offsets"]
    ]


def covered(records: list[Collected]) -> set[tuple[int, int]]:
    return set(source_offsets(records))


def out_topics(s: Settings) -> list[str]:
    return [
        s.topic_prediction_ready,
        s.topic_classification_ready,
        s.topic_dataset_failed,
        s.topic_dlq,
    ]


@pytest.mark.parametrize("exactly_once", [False, True], ids=["at-least-once", "exactly-once"])
async def test_every_dataset_ends_with_predictions_equal_to_the_emulators_and_is_classified(
    kafka_bootstrap: str, emulator_server: str, exactly_once: bool
) -> None:
    """3 tenants × 50 datasets, several events each: one final prediction per dataset that
    matches the emulator's own results, classification for priced datasets, nothing else."""
    data = generate(tenants=3, products=50, days=420, seed=7)
    records = list(sample_events(data, days_per_event=150, invalid=0))
    assert len(records) > len(data.datasets) * 2  # several events per dataset
    priced = {(d.tenant_id, d.dataset_id) for d in data.datasets if d.has_prices}
    settings = pipeline_settings(
        kafka_bootstrap, emulator_server, batch_max_datasets=60, exactly_once=exactly_once
    )

    offsets: list[tuple[int, int]] = []

    def finished(seen: Mapping[str, list[Collected]]) -> bool:
        classified = set(by_dataset(seen[settings.topic_classification_ready]))
        done = covered(seen[settings.topic_prediction_ready]) >= set(offsets)
        return done and priced <= classified

    async with running_service(settings) as service:
        offsets += await produce(
            kafka_bootstrap,
            settings.topic_sales_updated,
            [(r.key, r.value, r.headers) for r in records],
        )
        seen = await collect(
            kafka_bootstrap,
            out_topics(settings),
            finished,
            timeout_s=150,
            read_committed=exactly_once,
        )
        assert service.counter("io_bridge_events_consumed_total") >= len(records)

    predictions = by_dataset(seen[settings.topic_prediction_ready])
    assert set(predictions) == {(d.tenant_id, d.dataset_id) for d in data.datasets}
    assert priced <= set(by_dataset(seen[settings.topic_classification_ready]))
    assert seen[settings.topic_dataset_failed] == []
    assert seen[settings.topic_dlq] == []
    # Every input record is covered by exactly one prediction-ready event.
    coverage = Counter(source_offsets(seen[settings.topic_prediction_ready]))
    assert set(coverage) == set(offsets)
    assert max(coverage.values()) == 1
    await assert_matches_emulator(settings, predictions)


async def assert_matches_emulator(
    settings: Settings, predictions: dict[tuple[str, str], list[Collected]]
) -> None:
    """The last prediction-ready of each dataset carries the emulator's numbers for its job."""
    async with IoApiClient.from_settings(settings) as api:
        for (tenant, dataset), events in list(predictions.items())[:20]:
            event = events[-1].value
            results = await api.get_results(tenant, event["predictionJobId"])
            result = next(r for r in results.results if r.dataset_id == dataset)
            assert (
                event["replenishmentSuggestion"]["quantity"]
                == result.replenishment_suggestion.quantity
            )
            assert (
                event["reorderPointSuggestion"]["quantity"]
                == result.reorder_point_suggestion.quantity
            )
            assert [f["predictedQuantity"] for f in event["forecast"]] == [
                f.predicted_quantity for f in result.forecast
            ]


async def test_invalid_events_go_to_the_dlq_with_error_headers_and_valid_neighbours_still_run(
    kafka_bootstrap: str, emulator_server: str
) -> None:
    """Malformed JSON, missing fields, wrong types and an oversized event land in the DLQ;
    the valid events around them are processed."""
    settings = pipeline_settings(kafka_bootstrap, emulator_server, max_event_bytes=100_000)
    data = generate(tenants=1, products=4, days=400, seed=3)
    valid = [
        (r.key, r.value, r.headers) for r in sample_events(data, days_per_event=100, invalid=0)
    ]
    assert max(len(v) for _, v, _ in valid) < 100_000
    tenant = data.tenants[0].encode()
    good_txn = {"transactionId": "z", "departureDate": "2025-01-01", "quantity": 1}
    bad: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = [
        (tenant, b'{"tenantId": "tenant-001", "datasetId": ', []),
        (tenant, json.dumps({"tenantId": "tenant-001", "transactions": [good_txn]}).encode(), []),
        (
            tenant,
            json.dumps(
                {"tenantId": "tenant-001", "datasetId": "x", "transactions": "many"}
            ).encode(),
            [],
        ),
        (
            tenant,
            json.dumps(
                {"tenantId": "tenant-001", "datasetId": "x", "transactions": [good_txn] * 2_000}
            ).encode(),
            [],
        ),
    ]
    assert len(bad[3][1]) > 100_000
    mixed = [bad[0], valid[0], bad[1], valid[1], bad[2], *valid[2:], bad[3]]

    def finished(seen: Mapping[str, list[Collected]]) -> bool:
        return (
            len(seen[settings.topic_dlq]) >= 4 and len(seen[settings.topic_prediction_ready]) >= 4
        )

    async with running_service(settings):
        offsets = await produce(kafka_bootstrap, settings.topic_sales_updated, mixed)
        seen = await collect(kafka_bootstrap, out_topics(settings), finished, timeout_s=90)

    dlq = seen[settings.topic_dlq]
    reasons = sorted(r.headers["dlq.error.reason"].decode() for r in dlq)
    assert reasons == ["malformed_json", "schema", "schema", "too_large"]
    bad_offsets = {offsets[mixed.index(b)][1] for b in bad}
    assert {int(r.headers["dlq.source.offset"]) for r in dlq} == bad_offsets
    assert all(r.headers["dlq.source.topic"].decode() == settings.topic_sales_updated for r in dlq)
    assert all("dlq.timestamp" in r.headers and r.headers["dlq.error.message"] for r in dlq)
    assert len(by_dataset(seen[settings.topic_prediction_ready])) == 4


async def test_a_second_batch_for_trained_datasets_skips_training_unless_the_horizon_changes(
    kafka_bootstrap: str, emulator_server: str
) -> None:
    """Unchanged parameters: predict only (trained=false); a changed horizon: train again."""
    settings = pipeline_settings(kafka_bootstrap, emulator_server)
    data = generate(tenants=1, products=2, days=400, seed=5)
    first = [
        (r.key, r.value, r.headers) for r in sample_events(data, days_per_event=400, invalid=0)
    ]

    def later(value: bytes, n: int, horizon: int | None) -> bytes:
        body = json.loads(value)
        body["transactions"] = [{**body["transactions"][-1], "transactionId": f"extra-{n}"}]
        body["forecast"] = {**body["forecast"], "horizon": horizon or body["forecast"]["horizon"]}
        return json.dumps(body).encode()

    def count(n: int) -> Callable[[Mapping[str, list[Collected]]], bool]:
        return lambda seen: len(seen[settings.topic_prediction_ready]) >= n

    async with running_service(settings):
        topic = settings.topic_sales_updated
        await produce(kafka_bootstrap, topic, first)
        await collect(kafka_bootstrap, out_topics(settings), count(2), timeout_s=60)
        await produce(kafka_bootstrap, topic, [(k, later(v, 1, None), h) for k, v, h in first])
        await collect(kafka_bootstrap, out_topics(settings), count(4), timeout_s=60)
        new_horizon = [(k, later(v, 2, 3), h) for k, v, h in first]
        await produce(kafka_bootstrap, topic, new_horizon)
        seen = await collect(kafka_bootstrap, out_topics(settings), count(6), timeout_s=60)

    trained = [
        (r.value["datasetId"], r.value["trained"], r.value["horizon"])
        for r in seen[settings.topic_prediction_ready]
    ]
    assert [t for _, t, _ in trained] == [True, True, False, False, True, True]
    assert {h for _, _, h in trained[4:]} == {3}
