"""Partition restores run outside the rebalance callback, on a real broker.

aiokafka sends no heartbeats while ``on_partitions_assigned`` runs, so a restore inside it that
outlives the session timeout gets the member evicted, and it restores again and again
(docs/PERFORMANCE.md, fix C). These tests wire the real ``App`` the way ``bootstrap.serve``
does, with a short session timeout, so that a restore of a few seconds is already "long".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from service.adapters.io_api import IoApiClient
from service.adapters.kafka_admin import ensure_topics
from service.adapters.kafka_common import connection_config
from service.adapters.kafka_out import KafkaPublisher
from service.app import App, Fatal, Health
from service.bootstrap import build_app, serve
from service.config import Settings
from service.devkit.sample_data import generate
from service.devkit.sample_events import events as sample_events
from service.metrics import Metrics
from tests.pipeline_harness import (
    Collected,
    collect,
    eventually,
    pipeline_settings,
    prefill_changelog,
    produce,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]

SESSION_TIMEOUT_S = 6.0  # the broker's minimum (group.min.session.timeout.ms)
PER_PARTITION = 40_000  # changelog records per partition: a restore of seconds


@dataclass
class Member:
    """One io-bridge group member in this event loop, and what the tests look at."""

    app: App
    health: Health
    metrics: Metrics
    task: asyncio.Task[None]

    def restored(self) -> float:
        """Partitions restored so far (the restore histogram's count)."""
        value = self.metrics.registry.get_sample_value(
            "io_bridge_state_restore_duration_seconds_count"
        )
        return value or 0.0


@contextlib.asynccontextmanager
async def member(settings: Settings) -> AsyncIterator[Member]:
    """The service's own App, built as ``serve`` builds it, with a session timeout of 6 s;
    stopped gracefully when the block ends."""
    settings = settings.model_copy(update={"kafka_session_timeout_seconds": SESSION_TIMEOUT_S})
    metrics, fatal, health = Metrics(CollectorRegistry()), Fatal(), Health(time.monotonic)
    connection = connection_config(settings)
    await ensure_topics(settings, connection)
    async with IoApiClient.from_settings(settings, None, metrics) as api:
        publisher = KafkaPublisher(connection)
        await publisher.start()
        try:
            app = build_app(settings, connection, api, publisher, metrics, health, fatal)
            stop = asyncio.Event()
            task = asyncio.create_task(app.run(stop))
            try:
                yield Member(app, health, metrics, task)
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)
        finally:
            await publisher.stop()


def covered(records: list[Collected]) -> set[tuple[int, int]]:
    """(partition, offset) of every input record the events cover."""
    return {
        (r.value["source"]["partition"], offset)
        for r in records
        for offset in r.value["source"]["offsets"]
    }


async def produce_sales(settings: Settings) -> set[tuple[int, int]]:
    """A small valid workload on every partition; returns where its records landed."""
    data = generate(tenants=16, products=2, days=420, seed=5)  # tenants on all 3 partitions
    records = [
        (r.key, r.value, r.headers) for r in sample_events(data, days_per_event=210, invalid=0)
    ]
    return set(
        await produce(settings.kafka_bootstrap_servers, settings.topic_sales_updated, records)
    )


async def outcomes(
    settings: Settings, wanted: set[tuple[int, int]]
) -> dict[str, set[tuple[int, int]]]:
    """Input records covered by prediction-ready and dataset-failed events, once all of
    ``wanted`` are (or after the timeout)."""
    topics = [settings.topic_prediction_ready, settings.topic_dataset_failed]

    def done(seen: Mapping[str, list[Collected]]) -> bool:
        return covered([r for t in topics for r in seen[t]]) >= wanted

    seen = await collect(settings.kafka_bootstrap_servers, topics, done, timeout_s=90)
    return {"predicted": covered(seen[topics[0]]), "failed": covered(seen[topics[1]])}


async def joined(m: Member) -> None:
    """Wait (closely) until the member's first assignment callback has returned."""

    async def check() -> bool:
        return m.health.joined

    await eventually(check, timeout_s=60, every_s=0.005)


def restore_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("restore-")]


async def test_an_assignment_returns_from_the_callback_before_a_long_restore_has_finished(
    kafka_bootstrap: str, emulator_server: str
) -> None:
    """The member has joined while its partitions are still restoring; input produced meanwhile
    is processed once they are, and each partition is restored exactly once (no eviction)."""
    settings = pipeline_settings(kafka_bootstrap, emulator_server)
    await prefill_changelog(settings, PER_PARTITION)
    with capture_logs() as logs:
        async with member(settings) as m:
            await joined(m)
            restoring_at_join = set(m.health.restoring)
            workers_at_join = set(m.app.workers)
            offsets = await produce_sales(settings)
            assert {p for p, _ in offsets} == {0, 1, 2}
            outcome = await outcomes(settings, offsets)
            assert m.health.restoring == set()
            assert set(m.app.workers) == {0, 1, 2}
            assert m.restored() == 3
            assert not m.task.done()

    assert restoring_at_join == {0, 1, 2}, "the callback returned only after restoring"
    assert workers_at_join == set()
    assert outcome == {"predicted": offsets, "failed": set()}
    restored = sorted(
        (e["partition"], e["datasets"]) for e in logs if e["event"] == "partition_assigned"
    )
    assert restored == [(p, PER_PARTITION) for p in range(3)]
    assert [e for e in logs if e["event"] in ("restore_failed", "run_crashed")] == []


async def test_a_member_joining_during_a_long_restore_gets_its_partitions_and_loses_nothing(
    kafka_bootstrap: str, emulator_server: str
) -> None:
    """A second member joins while the first is restoring all three partitions: the first
    revokes them (its unfinished restores are cancelled), the two split the partitions, no
    restore task is left behind, and every input record is predicted."""
    settings = pipeline_settings(kafka_bootstrap, emulator_server)
    await prefill_changelog(settings, PER_PARTITION)
    async with member(settings) as first:
        await joined(first)
        assert first.health.restoring == {0, 1, 2}
        async with member(settings) as second:

            async def settled() -> bool:
                owned = [set(first.app.workers), set(second.app.workers)]
                restoring = first.health.restoring | second.health.restoring
                return (
                    owned[0] | owned[1] == {0, 1, 2}
                    and not owned[0] & owned[1]
                    and all(owned)
                    and not restoring
                )

            await eventually(settled, timeout_s=90, every_s=0.05)
            assert restore_tasks() == []
            offsets = await produce_sales(settings)
            outcome = await outcomes(settings, offsets)
            assert not first.task.done()
            assert not second.task.done()
    assert outcome == {"predicted": offsets, "failed": set()}
    assert restore_tasks() == []


async def test_a_restore_that_fails_stops_the_service_and_raises_its_error(
    kafka_bootstrap: str, emulator_server: str
) -> None:
    """A changelog record that cannot be decoded fails the partition's restore task: reported
    like a crashed run, so serve() shuts down and raises, instead of the partition staying
    paused and the service unready for ever."""
    settings = pipeline_settings(kafka_bootstrap, emulator_server)
    await ensure_topics(settings, connection_config(settings))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic_state, b"{not json", key=b"t|x|y", partition=1)
    finally:
        await producer.stop()
    metrics, fatal, stop = Metrics(CollectorRegistry()), Fatal(), asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(serve(settings, stop, metrics=metrics, fatal=fatal))
        with pytest.raises(ValueError, match="Expecting property name"):
            await asyncio.wait_for(task, 60)
    assert not stop.is_set()
    assert [e["partition"] for e in logs if e["event"] == "restore_failed"] == [1]
