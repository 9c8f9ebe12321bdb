"""Ports: the Protocols the application depends on; adapters implement them (style.md §2)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from schemas.io_api import (
    ClassificationResultsResponse,
    CreatePredictionRequest,
    JobStarted,
    JobStatus,
    MessageResponse,
    PresignedUrl,
    ResultsResponse,
    StartClassificationRequest,
    StartTrainerRequest,
    UploadBody,
    UploadType,
)
from service.codec import OutboundRecord


class IoApi(Protocol):
    """The Inventory Optimization API, as the pipeline uses it (io-api-contract.md §3).

    Every method either returns the parsed answer or raises a ``service.errors.IoApiError``
    whose ``retriable`` flag says whether trying again later may help. Retries, rate limits,
    authentication and the "job not visible yet" window are handled inside.
    """

    async def get_presigned_url(
        self, tenant_id: str, *, upload_type: UploadType = "raw_data"
    ) -> PresignedUrl:
        """``GET /presigned_url``: an upload URL (valid 60 min) and its validation job id."""
        ...

    async def upload(self, presigned: PresignedUrl, body: UploadBody) -> None:
        """PUT ``body`` to the presigned URL (no auth header); starts the validation job."""
        ...

    async def get_status(self, tenant_id: str, job_id: str) -> JobStatus:
        """``GET /status`` of a validation, training, prediction or classification job."""
        ...

    async def start_trainer(self, tenant_id: str, request: StartTrainerRequest) -> JobStarted:
        """``POST /start_trainer``: start a training job for the listed datasets."""
        ...

    async def create_prediction(
        self, tenant_id: str, request: CreatePredictionRequest
    ) -> JobStarted:
        """``POST /create_prediction``: start a prediction job for the listed datasets."""
        ...

    async def get_results(self, tenant_id: str, job_id: str) -> ResultsResponse:
        """``GET /results`` of a finished prediction job."""
        ...

    async def start_classification(
        self, tenant_id: str, request: StartClassificationRequest
    ) -> JobStarted:
        """``POST /start_inventory_classification`` for the tenant's listed datasets."""
        ...

    async def get_classification_results(
        self, tenant_id: str, job_id: str
    ) -> ClassificationResultsResponse:
        """``GET /inventory_classification_results`` of a finished classification job."""
        ...

    async def delete_data(
        self,
        tenant_id: str,
        dataset_id: str,
        *,
        from_date: date | None = None,
        to_date: date | None = None,
    ) -> MessageResponse:
        """``DELETE /data/{datasetId}``, the whole dataset or the given date range."""
        ...


class IoApiObserver(Protocol):
    """Receives what the IO API client does, for metrics; every method must return at once.

    ``operation`` is one of ``token``, ``presigned_url``, ``upload``, ``status``,
    ``start_trainer``, ``create_prediction``, ``results``, ``start_classification``,
    ``classification_results``, ``delete_data``.
    """

    def request_finished(self, operation: str, status_class: str, seconds: float) -> None:
        """One HTTP attempt ended; ``status_class`` is 2xx, 3xx, 4xx, 5xx, 429 or error."""
        ...

    def rate_limit_waited(self, seconds: float) -> None:
        """A request waited this long for the client-side rate limit or a 429 pause."""
        ...

    def token_refreshed(self, ok: bool) -> None:
        """A token refresh ended, successfully or not."""
        ...

    def retried(self, operation: str, reason: str) -> None:
        """An attempt is repeated; reason is 5xx, 429, timeout, connection, auth or not_visible."""
        ...


class Publisher(Protocol):
    """Writes records to Kafka; returns once the broker acknowledged every one."""

    transactional: bool

    async def send(
        self,
        records: Sequence[OutboundRecord],
        offsets: dict[tuple[str, int], int] | None = None,
        group_id: str | None = None,
    ) -> None:
        """Send ``records`` as one unit and await every acknowledgement (acks=all); when
        transactional, atomically with the input ``offsets`` of ``group_id``."""
        ...

    async def flush(self) -> None:
        """Wait for every record already handed over, including those of cancelled sends."""
        ...
