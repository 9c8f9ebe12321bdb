"""Contract: fault knobs and the admin API (issue "Fault knobs"; project decision 3)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from emulator import EmulatorConfig
from tests.contract.emulator_flows import (
    IoSession,
    configure,
    daily_transactions,
    messages,
    statuses,
    train_item,
)


async def test_rate_429_answers_too_many_requests_with_retry_after(
    emulator_client: httpx.AsyncClient,
) -> None:
    """rate_429=1 makes every API call a 429 carrying Retry-After = retry_after_seconds."""
    await configure(emulator_client, rate_429=1.0, retry_after_seconds=7)
    response = await emulator_client.get("/io/health_check")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"] == "too_many_requests"


async def test_rate_5xx_answers_500_with_an_error_body(emulator_client: httpx.AsyncClient) -> None:
    """rate_5xx=1 makes every API call a 500 {error, message}."""
    await configure(emulator_client, rate_5xx=1.0)
    response = await emulator_client.get("/io/health_check")
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"


async def test_the_request_rate_limit_answers_429_past_the_limit(
    emulator_client: httpx.AsyncClient,
) -> None:
    """rate_limit_per_second=1: the second immediate call is a 429 with a Retry-After."""
    await configure(emulator_client, rate_limit_per_second=1)
    first = await emulator_client.get("/io/health_check")
    second = await emulator_client.get("/io/health_check")
    assert (first.status_code, second.status_code) == (200, 429)
    assert int(second.headers["Retry-After"]) >= 1


async def test_latency_delays_every_api_call(emulator_client: httpx.AsyncClient) -> None:
    """latency_seconds is added before the answer."""
    await configure(emulator_client, latency_seconds=0.2)
    started = time.monotonic()
    await emulator_client.get("/io/health_check")
    assert time.monotonic() - started >= 0.2


async def test_a_young_job_is_404_within_the_not_visible_window(
    emulator_client: httpx.AsyncClient,
) -> None:
    """not_visible_seconds: /status answers 404 right after creation, then 200 ([BP] retries)."""
    io = await IoSession.open(emulator_client)
    await configure(emulator_client, not_visible_seconds=0.3)
    job = await io.start("/start_trainer", {"parametersArray": [train_item("a")]})
    assert (await io.get("/status", job)).status_code == 404
    await asyncio.sleep(0.35)
    assert (await io.get("/status", job)).status_code == 200


async def test_fail_datasets_globs_fail_matching_datasets_in_any_job(
    emulator_client: httpx.AsyncClient,
) -> None:
    """A dataset matching fail_datasets fails with a message naming the knob; others succeed."""
    io = await IoSession.open(emulator_client)
    await configure(emulator_client, fail_datasets=["doomed-*"])
    status = await io.wait(
        await io.upload({"doomed-1": daily_transactions(5), "ok": daily_transactions(5)})
    )
    assert statuses(status) == {"doomed-1": "failed", "ok": "success"}
    assert "fail_datasets" in messages(status)["doomed-1"]


async def test_a_job_with_a_hang_dataset_never_finishes(emulator_client: httpx.AsyncClient) -> None:
    """hang_datasets keeps the job inProgress."""
    io = await IoSession.open(emulator_client)
    await configure(emulator_client, hang_datasets=["stuck"])
    job = await io.start("/start_trainer", {"parametersArray": [train_item("stuck")]})
    await asyncio.sleep(0.2)
    assert (await io.get("/status", job)).json()["status"] == "inProgress"


async def test_job_durations_follow_the_timing_knobs(emulator_client: httpx.AsyncClient) -> None:
    """job_seconds + job_seconds_per_dataset × datasets passes before a job ends."""
    io = await IoSession.open(emulator_client)
    await configure(emulator_client, job_seconds=0.1, job_seconds_per_dataset=0.1)
    started = time.monotonic()
    await io.wait(await io.upload({"a": daily_transactions(3), "b": daily_transactions(3)}))
    assert time.monotonic() - started >= 0.3


async def test_the_admin_api_reports_stats_and_jobs(emulator_client: httpx.AsyncClient) -> None:
    """Stats count calls by operation and code, uploads, jobs by kind, datasets per tenant."""
    io = await IoSession.open(emulator_client)
    job = await io.upload({"a": daily_transactions(3)})
    await io.wait(job)
    stats = (await emulator_client.get("/_emulator/stats")).json()
    assert stats["calls"]["token"] == {"200": 1}
    assert stats["calls"]["upload"] == {"200": 1}
    assert stats["uploads"] == 1
    assert stats["jobs_started"] == {"validation": 1}
    assert stats["datasets"] == {"tenant-a": 1}
    jobs = (await emulator_client.get("/_emulator/jobs")).json()["jobs"]
    assert len(jobs) == 1
    entry = jobs[0]
    assert (entry["id"], entry["tenant"], entry["kind"], entry["status"]) == (
        job,
        "tenant-a",
        "validation",
        "success",
    )
    assert entry["dataset_ids"] == ["a"]
    assert entry["finished_at"] >= entry["created_at"] > 0


async def test_patching_an_unknown_or_fixed_knob_is_400(emulator_client: httpx.AsyncClient) -> None:
    """Only run-time knobs can change; bad values are 400 too."""
    for change in ({"no_such_knob": 1}, {"client_secret": "x"}, {"rate_429": 2}):
        response = await emulator_client.patch("/_emulator/config", json=change)
        assert response.status_code == 400, change


async def test_reset_forgets_data_jobs_counters_and_knobs(
    emulator_client: httpx.AsyncClient,
) -> None:
    """POST /_emulator/reset returns to the startup state."""
    io = await IoSession.open(emulator_client)
    await io.wait(await io.upload({"a": daily_transactions(3)}))
    await configure(emulator_client, latency_seconds=0.01)
    assert (await emulator_client.post("/_emulator/reset")).status_code == 200
    config = (await emulator_client.get("/_emulator/config")).json()
    stats = (await emulator_client.get("/_emulator/stats")).json()
    jobs = (await emulator_client.get("/_emulator/jobs")).json()["jobs"]
    assert config["latency_seconds"] == 0
    assert (stats["uploads"], stats["datasets"], jobs) == (0, {}, [])


class TestWithAnAdminKey:
    """An admin key protects /_emulator/ (but not the webhook sink's POST)."""

    @pytest.fixture
    def emulator_config(self) -> EmulatorConfig:
        """Knobs with an admin key."""
        return EmulatorConfig(job_seconds=0.05, admin_key="s3cret")  # type: ignore[arg-type]

    async def test_admin_calls_need_the_key(self, emulator_client: httpx.AsyncClient) -> None:
        """Without x-admin-key: 401; with it: 200; secrets are masked in the config."""
        assert (await emulator_client.get("/_emulator/stats")).status_code == 401
        response = await emulator_client.get("/_emulator/config", headers={"x-admin-key": "s3cret"})
        assert response.status_code == 200
        assert response.json()["admin_key"] == "**********"
        assert response.json()["client_secret"] == "**********"
        assert (await emulator_client.post("/_emulator/webhook_sink", json={})).status_code == 200
