"""Crash, rebalance and resume: nothing lost, duplicates only where the design allows."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from service.config import Settings
from service.devkit.kafka_local import free_port_pair
from service.devkit.sample_data import generate
from service.devkit.sample_events import events as sample_events
from tests.pipeline_harness import (
    Collected,
    InProcessService,
    ServiceProcess,
    collect,
    eventually,
    pipeline_settings,
    produce,
    running_service,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]


def outputs(s: Settings) -> list[str]:
    return [s.topic_prediction_ready, s.topic_dataset_failed, s.topic_dlq]


def accounted(seen: Mapping[str, list[Collected]], s: Settings) -> Counter[tuple[int, int]]:
    """How many final outcomes name each input (partition, offset)."""
    counts: Counter[tuple[int, int]] = Counter()
    for topic in (s.topic_prediction_ready, s.topic_dataset_failed):
        for r in seen[topic]:
            src = r.value["source"]
            counts.update((src["partition"], o) for o in src["offsets"])
    for r in seen[s.topic_dlq]:
        counts[(int(r.headers["dlq.source.partition"]), int(r.headers["dlq.source.offset"]))] += 1
    return counts


def duplicates_are_recognisable(seen: Mapping[str, list[Collected]], s: Settings) -> bool:
    """Two outcomes naming the same input are the same event (same ce_id)."""
    by_input: dict[tuple[int, int], set[bytes]] = {}
    for topic in (s.topic_prediction_ready, s.topic_dataset_failed):
        for r in seen[topic]:
            for o in r.value["source"]["offsets"]:
                by_input.setdefault((r.value["source"]["partition"], o), set()).add(
                    r.headers["ce_id"]
                )
    return all(len(ids) == 1 for ids in by_input.values())


async def emulator_jobs(url: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{url}/_emulator/jobs")
        jobs: list[dict[str, object]] = answer.json()["jobs"]
        return jobs


async def wait_for_job(url: str, kind: str, timeout_s: float = 60.0) -> None:
    """Until the emulator has a job of ``kind`` in progress."""

    async def running() -> bool:
        jobs = await emulator_jobs(url)
        return any(j["kind"] == kind and j["status"] == "inProgress" for j in jobs)

    await eventually(running, timeout_s)


async def test_a_killed_service_resumes_every_run_and_loses_nothing(
    kafka_bootstrap: str, slow_emulator_server: str, tmp_path: Path
) -> None:
    """SIGKILL during upload/validation, training and prediction polling; a new process
    finishes every run; every input is accounted for once, or as a recognisable duplicate."""
    settings = pipeline_settings(kafka_bootstrap, slow_emulator_server, http_port=free_port_pair())
    data = generate(tenants=2, products=12, days=400, seed=11)
    records = [
        (r.key, r.value, r.headers) for r in sample_events(data, days_per_event=200, invalid=2)
    ]
    service = ServiceProcess(settings, tmp_path / "service.log")
    service.start()
    try:
        await wait_for_http(settings.http_port)
        offsets = await produce(kafka_bootstrap, settings.topic_sales_updated, records)
        for kind in ("validation", "training", "prediction"):
            await wait_for_job(slow_emulator_server, kind)
            service.kill()
            service.start()
        expected = set(offsets)

        def done(seen: Mapping[str, list[Collected]]) -> bool:
            return set(accounted(seen, settings)) >= expected

        seen = await collect(kafka_bootstrap, outputs(settings), done, timeout_s=180)
    finally:
        status = service.terminate()
    assert status == 0, (tmp_path / "service.log").read_text()[-3000:]
    counts = accounted(seen, settings)
    assert expected - set(counts) == set(), "inputs lost"
    assert duplicates_are_recognisable(seen, settings)


async def wait_for_http(port: int, timeout_s: float = 60.0) -> None:
    async with asyncio.timeout(timeout_s), httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def test_two_instances_share_the_work_and_one_leaving_mid_run_loses_nothing(
    kafka_bootstrap: str, slow_emulator_server: str
) -> None:
    """Two members of one group; the first leaves mid-run; every dataset completes once."""
    settings = pipeline_settings(kafka_bootstrap, slow_emulator_server)
    data = generate(tenants=4, products=8, days=400, seed=13)
    records = [
        (r.key, r.value, r.headers) for r in sample_events(data, days_per_event=200, invalid=0)
    ]
    offsets: list[tuple[int, int]] = []

    def done(seen: Mapping[str, list[Collected]]) -> bool:
        return set(accounted(seen, settings)) >= set(offsets)

    async with running_service(settings) as first, running_service(settings) as second:
        offsets += await produce(kafka_bootstrap, settings.topic_sales_updated, records)

        def training(member: InProcessService) -> bool:
            return member.counter("io_bridge_run_transitions_total", state="TRAINING") >= 1

        async def someone_training() -> bool:
            return training(first) or training(second)

        # Jobs take ~2 s: the member that is training is in the middle of its runs. It leaves.
        await eventually(someone_training, 60)
        leaving = first if training(first) else second
        leaving.stop.set()
        assert leaving.task is not None
        await asyncio.wait_for(leaving.task, 30)
        seen = await collect(kafka_bootstrap, outputs(settings), done, timeout_s=120)
    counts = accounted(seen, settings)
    assert set(counts) == set(offsets)
    assert duplicates_are_recognisable(seen, settings)
