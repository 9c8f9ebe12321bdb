"""The IO API client against the emulator, in-process and over real HTTP (one case, both ways).

Knobs are changed at run time through ``PATCH /_emulator/config``; every test gets a fresh
emulator from the ``emulator_target`` fixture (tests/emulator_fixtures.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr

from schemas.io_api import (
    CreatePredictionRequest,
    JobState,
    JobStatus,
    Period,
    PredictionParameters,
    StartClassificationRequest,
    StartTrainerRequest,
    Supplier,
    TrainerParameters,
    Transaction,
    UploadBody,
    UploadDataset,
)
from service.adapters.io_api import IoApiClient, IoApiClientConfig
from service.errors import IoApiNotFoundError, IoApiRejectedError, IoApiUnavailableError
from tests.emulator_fixtures import EmulatorTarget
from tests.unit.test_io_api_fakes import RecordingObserver

TENANT = "tenant-it"
DATASETS = ("d1", "d2")


def client_config(target: EmulatorTarget, **knobs: Any) -> IoApiClientConfig:
    """The emulator's default credentials, fast backoff, gates off unless asked for."""
    defaults: dict[str, Any] = {
        "timeout": 10.0,
        "max_retries": 8,
        "backoff_base": 0.01,
        "backoff_max": 0.1,
        "max_concurrency": 16,
        "rate_limit_per_second": None,
        "token_refresh_margin": 60.0,
        "not_visible_window": 2.0,
    }
    return IoApiClientConfig(
        target.io_url,
        target.token_url,
        "machine-learning-factory-api-stage:io",
        "io-bridge-local",
        SecretStr("io-bridge-local-secret"),
        **(defaults | knobs),
    )


@pytest.fixture
async def http(emulator_target: EmulatorTarget) -> AsyncIterator[httpx.AsyncClient]:
    """One httpx client on the target, shared by the IO client and the admin calls."""
    async with emulator_target.client() as client:
        yield client


async def knobs(http: httpx.AsyncClient, **values: Any) -> None:
    """Change emulator knobs at run time."""
    (await http.patch("/_emulator/config", json=values)).raise_for_status()


async def calls(http: httpx.AsyncClient, operation: str) -> dict[str, int]:
    """The emulator's count of answers by status code for one operation."""
    stats = (await http.get("/_emulator/stats")).json()
    counted: dict[str, int] = stats["calls"].get(operation, {})
    return counted


def upload_body() -> UploadBody:
    """Two datasets of 30 weeks of daily sales with prices (enough to train weekly)."""
    today = dt.date.today()
    return UploadBody(
        datasets=tuple(
            UploadDataset(
                dataset_id=name,
                transactions=tuple(
                    Transaction(
                        transaction_id=f"{name}-{day}",
                        departure_date=today - dt.timedelta(days=day),
                        quantity=float(3 + day % 5),
                        unit_price=10.0,
                        unit_cost=6.0,
                    )
                    for day in range(1, 210)
                ),
            )
            for name in DATASETS
        )
    )


def prediction_request() -> CreatePredictionRequest:
    """Planner parameters for both datasets."""
    two_weeks = Period(value=2, granularity="W")
    return CreatePredictionRequest(
        parameters_array=tuple(
            PredictionParameters(
                dataset_id=name,
                current_inventory_level=10.0,
                wanted_service_level=0.9,
                time_to_next_order=two_weeks,
                supplier=Supplier(supplier_id="s1", lead_time=two_weeks),
            )
            for name in DATASETS
        )
    )


async def finished(io: IoApiClient, job_id: str) -> JobStatus:
    """Poll /status until the job reaches a known end state (5 s at most)."""
    async with asyncio.timeout(5):
        for _ in range(500):  # the deadline above ends it first
            status = await io.get_status(TENANT, job_id)
            if status.is_terminal:
                return status
            await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


async def uploaded(io: IoApiClient) -> str:
    """Upload the sample data and wait for its validation job; returns the job id."""
    presigned = await io.get_presigned_url(TENANT)
    await io.upload(presigned, upload_body())
    assert (await finished(io, presigned.job_id)).status == JobState.SUCCESS
    return presigned.job_id


async def test_every_operation_round_trips(
    emulator_target: EmulatorTarget, http: httpx.AsyncClient
) -> None:
    """Upload, train, predict, results, classify, classification results, delete: all parse."""
    async with IoApiClient(client_config(emulator_target), http) as io:
        await uploaded(io)
        params = tuple(TrainerParameters(dataset_id=n, frequency="W", horizon=4) for n in DATASETS)
        trained = await io.start_trainer(TENANT, StartTrainerRequest(parameters_array=params))
        assert (await finished(io, trained.job_id)).status == JobState.SUCCESS
        predicted = await io.create_prediction(TENANT, prediction_request())
        assert (await finished(io, predicted.job_id)).status == JobState.SUCCESS
        results = await io.get_results(TENANT, predicted.job_id)
        request = StartClassificationRequest(dataset_ids=DATASETS, abc_driver="revenue")
        classified = await io.start_classification(TENANT, request)
        assert (await finished(io, classified.job_id)).status == JobState.SUCCESS
        classes = await io.get_classification_results(TENANT, classified.job_id)
        deleted = await io.delete_data(TENANT, "d1", from_date=dt.date.today() - dt.timedelta(30))
        await io.delete_data(TENANT, "d2")
    assert {r.dataset_id for r in results.results} == set(DATASETS)
    assert all(len(r.forecast) == 4 and r.replenishment_suggestion for r in results.results)
    assert {c.dataset_id for c in classes.results} == set(DATASETS)
    assert "deleted successfully" in (deleted.message or "")
    assert await calls(http, "token") == {"200": 1}


async def test_a_token_expiring_mid_sequence_is_refreshed_before_it_lapses(
    emulator_target: EmulatorTarget, http: httpx.AsyncClient
) -> None:
    """1 s tokens over a 1.6 s sequence: new tokens arrive ahead of expiry, no call refused."""
    await knobs(http, token_lifetime_seconds=1)
    async with IoApiClient(client_config(emulator_target), http) as io:
        for _ in range(8):
            await io.get_presigned_url(TENANT)
            await asyncio.sleep(0.2)
    assert (await calls(http, "token"))["200"] >= 3
    assert set(await calls(http, "presigned_url")) == {"200"}


async def test_a_token_the_server_expires_early_is_replaced_after_a_403(
    emulator_target: EmulatorTarget, http: httpx.AsyncClient
) -> None:
    """A client clock running at quarter speed keeps a dead token; 403 → refresh → success."""
    await knobs(http, token_lifetime_seconds=1)
    start = time.monotonic()

    def slow_clock() -> float:
        return start + (time.monotonic() - start) / 4

    observer = RecordingObserver()
    config = client_config(emulator_target)
    async with IoApiClient(config, http, observer, clock=slow_clock) as io:
        for _ in range(5):
            await io.get_presigned_url(TENANT)
            await asyncio.sleep(0.3)
    assert (await calls(http, "presigned_url")).get("403", 0) >= 1
    assert ("retried", "presigned_url", "auth") in observer.events
    assert observer.events.count(("token", True)) >= 2


class _FirstRetry(RecordingObserver):
    """Records like its parent and sets ``event`` at the first retry for ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
        self.event = asyncio.Event()

    def retried(self, operation: str, reason: str) -> None:
        super().retried(operation, reason)
        if reason == self.reason:
            self.event.set()


async def _timed(call: Callable[[], Any]) -> float:
    started = time.monotonic()
    await call()
    return time.monotonic() - started


async def test_a_429_storm_slows_every_caller_and_every_call_succeeds(
    emulator_target: EmulatorTarget, http: httpx.AsyncClient
) -> None:
    """40 calls against a 20/s server: 429s with Retry-After 1 s, everyone waits, all succeed.

    Callers that start after the first 429 wait for the pause although they were never refused.
    """
    await knobs(http, rate_limit_per_second=20)
    observer = _FirstRetry("429")
    config = client_config(emulator_target, max_concurrency=None)
    async with IoApiClient(config, http, observer) as io, asyncio.TaskGroup() as wave:
        for _ in range(40):
            wave.create_task(io.get_presigned_url(TENANT))
        async with asyncio.timeout(5):
            await observer.event.wait()
        late = [_timed(lambda: io.get_presigned_url(TENANT)) for _ in range(3)]
        late_seconds = await asyncio.gather(*late)
    refused = (await calls(http, "presigned_url")).get("429", 0)
    waits = [event[1] for event in observer.events if event[0] == "waited"]
    assert refused >= 1
    assert min(late_seconds) >= 0.5
    assert len(waits) > refused  # callers that were never refused waited, too
    assert max(waits) >= 0.9  # as told: Retry-After is 1 s


async def test_thirty_percent_5xx_every_call_succeeds_within_the_budget(
    emulator_target: EmulatorTarget, http: httpx.AsyncClient
) -> None:
    """With 30 % injected 500s (token endpoint included), 30 calls and an upload all succeed."""
    await knobs(http, rate_5xx=0.3)
    async with IoApiClient(client_config(emulator_target), http) as io:
        job_id = await uploaded(io)
        statuses = await asyncio.gather(*(io.get_status(TENANT, job_id) for _ in range(30)))
    assert all(status.status == JobState.SUCCESS for status in statuses)
    assert (await calls(http, "status")).get("500", 0) >= 3


async def test_a_call_that_exhausts_the_retry_budget_raises_a_retriable_error(
    emulator_target: EmulatorTarget, http: httpx.AsyncClient
) -> None:
    """Every answer a 500 and max_retries=2: three attempts, then IoApiUnavailableError."""
    async with IoApiClient(client_config(emulator_target, max_retries=2), http) as io:
        job_id = (await io.get_presigned_url(TENANT)).job_id
        await knobs(http, rate_5xx=1.0)
        with pytest.raises(IoApiUnavailableError) as caught:
            await io.get_status(TENANT, job_id)
    assert caught.value.retriable
    assert (caught.value.operation, caught.value.status_code) == ("status", 500)
    assert await calls(http, "status") == {"500": 3}


async def test_a_job_not_visible_yet_is_waited_for_within_the_window(
    emulator_target: EmulatorTarget, http: httpx.AsyncClient
) -> None:
    """/status 404s for 0.3 s after the upload; the client's 2 s window hides that."""
    await knobs(http, not_visible_seconds=0.3)
    observer = RecordingObserver()
    async with IoApiClient(client_config(emulator_target), http, observer) as io:
        await uploaded(io)
    assert (await calls(http, "status")).get("404", 0) >= 1
    assert ("retried", "status", "not_visible") in observer.events


async def test_a_job_still_invisible_after_the_window_is_not_found(
    emulator_target: EmulatorTarget, http: httpx.AsyncClient
) -> None:
    """With a 0.2 s window against a 5 s delay, /status raises IoApiNotFoundError."""
    await knobs(http, not_visible_seconds=5)
    async with IoApiClient(client_config(emulator_target, not_visible_window=0.2), http) as io:
        presigned = await io.get_presigned_url(TENANT)
        await io.upload(presigned, upload_body())
        with pytest.raises(IoApiNotFoundError) as caught:
            await io.get_status(TENANT, presigned.job_id)
    assert not caught.value.retriable


async def test_a_non_ascii_header_value_is_rejected_at_once_not_crashing_the_caller(
    emulator_target: EmulatorTarget, http: httpx.AsyncClient
) -> None:
    """A tenant id that cannot be an HTTP header value (the input schema refuses it, but the
    client must not depend on that) fails as a non-retriable IoApiRejectedError, not a raw
    UnicodeEncodeError that would crash the run task, and nothing reaches the API."""
    observer = RecordingObserver()
    async with IoApiClient(client_config(emulator_target), http, observer) as io:
        with pytest.raises(IoApiRejectedError, match="not sendable: UnicodeEncodeError") as caught:
            await io.get_status("tenant-ü", "job")
    assert not caught.value.retriable
    assert not any(e[0] == "retried" for e in observer.events)
    assert await calls(http, "status") == {}


async def test_a_header_value_with_surrounding_space_is_rejected_at_once_over_http(
    emulator_server: str,
) -> None:
    """Over a real connection h11 refuses such a header (LocalProtocolError, an httpx transport
    error): it is a rejection, not a connection error retried until the job timeout."""
    target = EmulatorTarget("http", emulator_server)
    observer = RecordingObserver()
    async with target.client() as http, IoApiClient(client_config(target), http, observer) as io:
        with pytest.raises(IoApiRejectedError, match="not sendable: LocalProtocolError") as caught:
            await io.get_status(" tenant", "job")
        assert await calls(http, "status") == {}
    assert not caught.value.retriable
    assert not any(e[0] == "retried" for e in observer.events)


async def test_no_secret_reaches_the_logs_or_errors(
    emulator_target: EmulatorTarget,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The client secret, the emulator's tokens (ioe.…) and URL signatures are never logged."""
    caplog.set_level("DEBUG", logger="service")
    caplog.set_level("DEBUG", logger="httpx")
    await knobs(http, rate_5xx=0.3, not_visible_seconds=0.1)
    with structlog.testing.capture_logs() as events:
        async with IoApiClient(client_config(emulator_target), http) as io:
            await uploaded(io)
            await knobs(http, rate_5xx=1.0)
            with pytest.raises(IoApiUnavailableError) as caught:
                await io.get_presigned_url(TENANT)
    mine = [r for r in caplog.records if r.name.startswith(("service", "httpx"))]
    text = "\n".join([str(e) for e in events] + [r.getMessage() for r in mine])
    text += str(caught.value) + repr(caught.value)
    assert "_storage/" in text  # presigned URLs were logged, without their query
    for secret in ("io-bridge-local-secret", "ioe.", "signature=", "expires="):
        assert secret not in text
