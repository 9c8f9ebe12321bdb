"""Back-pressure against a real broker: a tenant whose run is busy stops its partition's reads."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from emulator import EmulatorConfig, create_app
from service.devkit.sample_data import generate
from service.devkit.sample_events import events as sample_events
from tests.emulator_fixtures import ServerThread
from tests.pipeline_harness import (
    Collected,
    InProcessService,
    collect,
    pipeline_settings,
    produce,
    running_service,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


async def sample_while_paused(service: InProcessService, seen: list[float]) -> None:
    """Append events consumed so far each time the partition is seen paused (every 20 ms)."""
    while True:
        if service.counter("io_bridge_partitions_paused") > 0:
            seen.append(service.counter("io_bridge_events_consumed_total"))
        await asyncio.sleep(0.02)


async def test_a_full_batch_waiting_for_its_tenants_run_pauses_the_partition_and_loses_nothing(
    kafka_bootstrap: str,
) -> None:
    """One tenant, 800 events of 100 datasets on one partition, batches capped at 50 datasets,
    one run at a time: while a run works the tenant's next batches fill up and the partition is
    paused (the rest of the input waits in Kafka, not in memory); every input still ends
    named by a prediction, no run has more than 50 datasets, and nothing is paused at the end."""
    data = generate(tenants=1, products=100, days=800, seed=11)
    records = list(sample_events(data, days_per_event=100, invalid=0))
    assert len(records) == 800
    with ServerThread(create_app(EmulatorConfig(job_seconds=0.2))) as url:
        settings = pipeline_settings(
            kafka_bootstrap, url, batch_max_datasets=50, max_runs_in_flight=1, topic_partitions=1
        )
        async with running_service(settings) as service:
            paused: list[float] = []
            sampler = asyncio.create_task(sample_while_paused(service, paused))
            try:
                offsets = await produce(
                    kafka_bootstrap,
                    settings.topic_sales_updated,
                    [(r.key, r.value, r.headers) for r in records],
                )
                wanted = set(offsets)

                def done(seen: Mapping[str, list[Collected]]) -> bool:
                    named = {
                        (r.value["source"]["partition"], o)
                        for r in seen[settings.topic_prediction_ready]
                        for o in r.value["source"]["offsets"]
                    }
                    return named >= wanted

                seen = await collect(
                    kafka_bootstrap, [settings.topic_prediction_ready], done, timeout_s=180
                )
            finally:
                sampler.cancel()
            paused_at_end = service.counter("io_bridge_partitions_paused")
            largest = service.counter("io_bridge_batch_datasets_bucket", le="50.0")
            runs = service.counter("io_bridge_batch_datasets_count")
    assert done(seen), "some inputs were never named by a prediction"
    assert paused, "the partition was never paused"
    assert min(paused) < len(records), "paused only after everything had been read"
    assert paused_at_end == 0
    assert largest == runs > 0, "a batch held more than 50 datasets"
