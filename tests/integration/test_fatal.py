"""A run task's unexpected error stops the service loudly instead of stalling a tenant."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from service.app import Fatal
from service.bootstrap import serve
from service.metrics import Metrics
from tests.pipeline_harness import eventually, pipeline_settings

pytestmark = pytest.mark.kafka


async def test_an_error_reported_by_a_run_task_stops_the_service_and_is_raised(
    kafka_bootstrap: str, emulator_server: str
) -> None:
    """serve() shuts down cleanly and raises the reported error, so the platform restarts it."""
    settings = pipeline_settings(kafka_bootstrap, emulator_server)
    metrics, fatal, stop = Metrics(CollectorRegistry()), Fatal(), asyncio.Event()
    task = asyncio.create_task(serve(settings, stop, metrics=metrics, fatal=fatal))

    async def assigned() -> bool:
        return (metrics.registry.get_sample_value("io_bridge_partitions_assigned") or 0) > 0

    await eventually(assigned, 30)
    fatal(RuntimeError("a bug in a run task"))
    with pytest.raises(RuntimeError, match="a bug in a run task"):
        await asyncio.wait_for(task, 30)
    assert not stop.is_set()
