"""The webhook fast path: authenticated callbacks wake the owning run; polling is the fallback."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

import httpx
import pytest

from emulator import EmulatorConfig, create_app
from service.devkit.kafka_local import free_port_pair
from service.devkit.sample_data import generate
from service.devkit.sample_events import events as sample_events
from tests.emulator_fixtures import ServerThread
from tests.pipeline_harness import Collected, collect, pipeline_settings, produce, running_service

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]
KEY = "webhook-key-for-tests"


@pytest.fixture
def slow_jobs_emulator() -> Iterator[str]:
    """An emulator whose jobs take a second each."""
    with ServerThread(create_app(EmulatorConfig(job_seconds=1.0))) as url:
        yield url


async def test_callbacks_with_a_wrong_or_missing_key_are_refused(
    kafka_bootstrap: str, emulator_server: str
) -> None:
    """401 for a missing or wrong x-api-key, 400 for a body without jobId, 202 when valid."""
    port = free_port_pair()
    url = f"http://127.0.0.1:{port}/webhooks/io"
    settings = pipeline_settings(
        kafka_bootstrap,
        emulator_server,
        http_port=port,
        webhook_public_url=url,
        webhook_api_key=KEY,
    )
    body = {"jobId": "a" * 32, "status": "success"}
    async with running_service(settings) as service, httpx.AsyncClient() as client:
        missing = await client.post(url, json=body, headers={"tenantId": "t1"})
        wrong = await client.post(
            url, json=body, headers={"tenantId": "t1", "x-api-key": KEY + "x"}
        )
        no_job = await client.post(
            url, json={"status": "x"}, headers={"tenantId": "t1", "x-api-key": KEY}
        )
        good = await client.post(url, json=body, headers={"tenantId": "t1", "x-api-key": KEY})
        get = await client.get(url)
        accepted = service.counter("io_bridge_webhooks_received_total", outcome="accepted")
        refused = service.counter("io_bridge_webhooks_received_total", outcome="unauthorized")
    assert [r.status_code for r in (missing, wrong, no_job, good, get)] == [401, 401, 400, 202, 405]
    assert (accepted, refused) == (1.0, 2.0)
    assert KEY not in missing.text + wrong.text


async def test_with_webhooks_runs_finish_long_before_the_first_poll_would_fire(
    kafka_bootstrap: str, slow_jobs_emulator: str
) -> None:
    """Polls every 60 s at the earliest, jobs of ~1 s: callbacks alone bring the run home."""
    port = free_port_pair()
    settings = pipeline_settings(
        kafka_bootstrap,
        slow_jobs_emulator,
        http_port=port,
        webhook_public_url=f"http://127.0.0.1:{port}/webhooks/io",
        webhook_api_key=KEY,
        poll_first_seconds=60.0,
        poll_max_seconds=60.0,
    )
    data = generate(tenants=1, products=3, days=400, seed=21)
    records = [
        (r.key, r.value, r.headers) for r in sample_events(data, days_per_event=400, invalid=0)
    ]

    def done(seen: Mapping[str, list[Collected]]) -> bool:
        return len(seen[settings.topic_prediction_ready]) >= len(data.datasets)

    async with running_service(settings) as service:
        began = time.monotonic()
        await produce(kafka_bootstrap, settings.topic_sales_updated, records)
        seen = await collect(kafka_bootstrap, [settings.topic_prediction_ready], done, timeout_s=50)
        took = time.monotonic() - began
        accepted = service.counter("io_bridge_webhooks_received_total", outcome="accepted")
    assert len(seen[settings.topic_prediction_ready]) == len(data.datasets)
    assert took < 50  # one poll interval would be 60 s per job, and a run has three jobs
    assert accepted >= 3  # validation, training and prediction called back
