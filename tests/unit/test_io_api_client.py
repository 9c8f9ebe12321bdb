"""What the IO API client puts on the wire for each operation, and what it makes of the answer."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from pydantic import SecretStr

from schemas.io_api import (
    CreatePredictionRequest,
    JobState,
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
from service.adapters.io_api import IoApiClient, IoApiClientConfig, NullObserver
from service.config import Settings
from service.ports import IoApi, IoApiObserver
from tests.unit.test_io_api_fakes import (
    BASE_URL,
    CLIENT_SECRET,
    ScriptedApi,
    body_of,
    make_client,
)

UPLOAD = UploadBody(
    datasets=(
        UploadDataset(
            dataset_id="d1",
            transactions=(
                Transaction(transaction_id="t1", departure_date=date(2025, 1, 2), quantity=3),
            ),
        ),
    )
)
TRAIN = StartTrainerRequest(
    parameters_array=(TrainerParameters(dataset_id="d1", frequency="W", horizon=8),)
)
PREDICT = CreatePredictionRequest(
    parameters_array=(
        PredictionParameters(
            dataset_id="d1",
            current_inventory_level=50.0,
            wanted_service_level=0.95,
            time_to_next_order=Period(value=2, granularity="W"),
            supplier=Supplier(supplier_id="s1", lead_time=Period(value=1, granularity="W")),
        ),
    )
)


async def test_the_first_call_fetches_a_token_with_client_credentials() -> None:
    """The token request is a form POST with grant, client id, secret and scope."""
    api = ScriptedApi()
    async with make_client(api) as io:
        await io.get_status("tenant-1", "job-1")
    token_request = api.requests[0]
    form = dict(httpx.QueryParams(token_request.content.decode()))
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "client_secret": CLIENT_SECRET,
        "scope": "machine-learning-factory-api-test:io",
    }


async def test_status_sends_tenant_and_job_headers_with_the_bearer_token() -> None:
    """GET /status carries tenantId and jobId as headers and the cached bearer token."""
    api = ScriptedApi()
    async with make_client(api) as io:
        status = await io.get_status("tenant-1", "job-1")
        await io.get_status("tenant-1", "job-1")
    request = api.requests[1]
    assert (request.method, str(request.url)) == ("GET", f"{BASE_URL}/status")
    assert request.headers["tenantId"] == "tenant-1"
    assert request.headers["jobId"] == "job-1"
    assert api.bearer_of(1) == api.bearer_of(2) == "Bearer tok-1"
    assert status.status == JobState.IN_PROGRESS
    assert api.tokens_issued == 1


async def test_presigned_url_and_upload_put_the_body_without_any_auth_header() -> None:
    """The PUT goes to the presigned URL with the camelCase body and no Authorization."""
    api = ScriptedApi()
    async with make_client(api) as io:
        presigned = await io.get_presigned_url("tenant-1")
        await io.upload(presigned, UPLOAD)
    put = api.requests[-1]
    assert put.method == "PUT"
    assert str(put.url) == presigned.url.get_secret_value()
    assert "Authorization" not in put.headers
    assert "tenantId" not in put.headers
    assert body_of(put) == {
        "datasets": [
            {
                "datasetId": "d1",
                "transactions": [
                    {"transactionId": "t1", "departureDate": "2025-01-02", "quantity": 3.0}
                ],
            }
        ]
    }
    assert api.requests[1].url.params.get("type") is None


async def test_a_prediction_upload_asks_for_the_prediction_type() -> None:
    """``upload_type="prediction"`` becomes the ``type`` query parameter."""
    api = ScriptedApi()
    async with make_client(api) as io:
        await io.get_presigned_url("tenant-1", upload_type="prediction")
    assert api.requests[1].url.params["type"] == "prediction"


async def test_job_starts_post_the_parameters_array_and_return_the_job_id() -> None:
    """Trainer, prediction and classification starts POST JSON and return the 202 jobId."""
    api = ScriptedApi()
    classify = StartClassificationRequest(dataset_ids=("d1", "d2"), abc_driver="revenue")
    async with make_client(api) as io:
        trained = await io.start_trainer("tenant-1", TRAIN)
        predicted = await io.create_prediction("tenant-1", PREDICT)
        classified = await io.start_classification("tenant-1", classify)
    assert (trained.job_id, predicted.job_id, classified.job_id) == (
        "job-train",
        "job-pred",
        "job-class",
    )
    train, predict, classify_request = api.requests[1:]
    assert body_of(train) == {
        "parametersArray": [{"datasetId": "d1", "frequency": "W", "horizon": 8}]
    }
    assert body_of(predict)["parametersArray"][0]["replenishmentInterval"] == {
        "value": 2,
        "granularity": "W",
    }
    assert body_of(classify_request) == {"datasetIds": ["d1", "d2"], "abcDriver": "revenue"}
    assert classify_request.url.path == "/io/start_inventory_classification"
    assert train.headers["Content-Type"] == "application/json"


async def test_results_and_classification_results_parse_into_models() -> None:
    """The result bodies come back as typed models with the documented fields."""
    api = ScriptedApi()
    async with make_client(api) as io:
        results = await io.get_results("tenant-1", "job-pred")
        classes = await io.get_classification_results("tenant-1", "job-class")
    assert results.message is None
    assert results.results[0].replenishment_suggestion.quantity == 40.0
    assert results.results[0].forecast[0].lower_quantity == 1.0
    assert classes.results[0].seasonalities == ("52", "weekly")
    assert api.requests[2].url.path == "/io/inventory_classification_results"


async def test_delete_data_puts_the_dataset_in_the_path_and_dates_in_the_query() -> None:
    """DELETE /data/{datasetId} with fromDate/toDate query parameters."""
    api = ScriptedApi()
    async with make_client(api) as io:
        answer = await io.delete_data(
            "tenant-1", "d1", from_date=date(2024, 1, 1), to_date=date(2024, 6, 30)
        )
    request = api.requests[1]
    assert (request.method, request.url.path) == ("DELETE", "/io/data/d1")
    assert dict(request.url.params) == {"fromDate": "2024-01-01", "toDate": "2024-06-30"}
    assert answer.message == "Data was deleted successfully."


async def test_a_client_built_from_settings_uses_the_preset_urls() -> None:
    """``from_settings`` maps the io_* fields; a named environment fixes URLs and scope."""
    settings = Settings(io_environment="stage", io_client_secret=SecretStr("x"))
    client = IoApiClient.from_settings(settings)
    async with client:
        assert "api.machine-learning-factory.stage.visma.com" in repr(client)
    config = IoApiClientConfig.from_settings(settings)
    assert config.scope == "machine-learning-factory-api-stage:io"
    assert config.max_retries == settings.io_max_retries


def test_a_config_for_the_prod_environment_uses_the_prod_presets() -> None:
    """``for_environment("prod")`` gives the prod base URL, Visma Connect and the prod scope."""
    config = IoApiClientConfig.for_environment("prod", "c", SecretStr("s"), timeout=3.0)
    assert config.base_url == "https://api.machine-learning-factory.visma.com/io"
    assert config.token_url == "https://connect.visma.com/connect/token"
    assert config.timeout == 3.0


def test_a_config_that_would_spin_is_refused() -> None:
    """A negative retry budget or a zero timeout is a ValueError at construction."""
    with pytest.raises(ValueError, match="max_retries"):
        IoApiClientConfig.for_environment("test", "c", SecretStr("s"), max_retries=-1)
    with pytest.raises(ValueError, match="timeout"):
        IoApiClientConfig.for_environment("test", "c", SecretStr("s"), timeout=0)


async def test_the_client_and_the_null_observer_satisfy_their_ports() -> None:
    """IoApiClient is an IoApi and NullObserver an IoApiObserver (checked by mypy, too)."""
    api = ScriptedApi()
    async with make_client(api) as io:
        port: IoApi = io
        observer: IoApiObserver = NullObserver()
        observer.request_finished("status", "2xx", 0.1)
        assert (await port.get_status("t", "j")).status == "inProgress"
