"""The IO API client: io-bridge's only door to the Inventory Optimization API.

:class:`IoApiClient` implements :class:`service.ports.IoApi` over one ``httpx.AsyncClient``.
Request policy (auth, limits, retries, the 404 window) lives in ``io_api_requests``; this module
maps each operation of io-api-contract.md §3 to a request and its answer to a schema model.

Typical use (the composition root owns the lifetime)::

    async with IoApiClient.from_settings(settings) as io:
        presigned = await io.get_presigned_url("tenant-1")
        await io.upload(presigned, body)
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import date
from types import TracebackType
from typing import Self, TypeVar
from urllib.parse import quote, urlencode

import httpx
import structlog

from schemas.io_api import (
    ClassificationResultsResponse,
    CreatePredictionRequest,
    JobStarted,
    JobStatus,
    MessageResponse,
    OutboundModel,
    PresignedUrl,
    ResultsResponse,
    StartClassificationRequest,
    StartTrainerRequest,
    TokenResponse,
    UploadBody,
    UploadType,
)
from service.adapters.io_api_auth import TokenProvider
from service.adapters.io_api_config import IoApiClientConfig
from service.adapters.io_api_limiter import RequestLimiter
from service.adapters.io_api_requests import Call, RecentJobs, RequestRunner
from service.adapters.io_api_responses import parse_body, redact_httpx_logs, redact_url
from service.config import Settings
from service.ports import IoApiObserver

__all__ = ["IoApiClient", "IoApiClientConfig", "NullObserver", "build_http_client"]

log = structlog.get_logger(__name__)

_JSON = {"Content-Type": "application/json"}
_JobAnswer = TypeVar("_JobAnswer", JobStatus, ResultsResponse, ClassificationResultsResponse)


class NullObserver:
    """An :class:`~service.ports.IoApiObserver` that ignores everything (the default)."""

    def request_finished(self, operation: str, status_class: str, seconds: float) -> None:
        """Ignore a finished attempt."""

    def rate_limit_waited(self, seconds: float) -> None:
        """Ignore a rate-limit wait."""

    def token_refreshed(self, ok: bool) -> None:
        """Ignore a token refresh."""

    def retried(self, operation: str, reason: str) -> None:
        """Ignore a retry."""


HttpClient = httpx.AsyncClient
"""The HTTP client type, for the composition root to name without importing httpx."""


def build_http_client(config: IoApiClientConfig) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` sized for ``config`` (opens nothing until the first request)."""
    connections = config.max_concurrency or 100
    return httpx.AsyncClient(
        timeout=httpx.Timeout(config.timeout),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        follow_redirects=False,
    )


class IoApiClient:
    """Every IO API operation, typed; raises ``service.errors.IoApiError`` subclasses only.

    ``http`` is used as given (its base URL is ignored: URLs come from ``config``); it is
    closed by :meth:`aclose` only when ``owns_http``. ``clock``, ``sleep`` and ``jitter``
    (a ``[0, 1)`` source) are injectable so tests control time and randomness.
    """

    def __init__(
        self,
        config: IoApiClientConfig,
        http: httpx.AsyncClient,
        observer: IoApiObserver | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        owns_http: bool = False,
    ) -> None:
        observer = observer or NullObserver()
        redact_httpx_logs()  # httpx would log presigned URLs with their signature
        self._config = config
        self._http = http
        self._owns_http = owns_http
        self._base = config.base_url.rstrip("/")
        self._auth = TokenProvider(
            self._fetch_token,
            refresh_margin=config.token_refresh_margin,
            clock=clock,
            observer=observer,
        )
        self._jobs = RecentJobs(config.not_visible_window, clock)
        limiter = RequestLimiter(
            max_concurrency=config.max_concurrency,
            rate_per_second=config.rate_limit_per_second,
            clock=clock,
            sleep=sleep,
        )
        self._runner = RequestRunner(
            http,
            config,
            limiter=limiter,
            auth=self._auth,
            jobs=self._jobs,
            observer=observer,
            clock=clock,
            sleep=sleep,
            jitter=jitter,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        http: httpx.AsyncClient | None = None,
        observer: IoApiObserver | None = None,
    ) -> IoApiClient:
        """A client configured from ``settings``; builds (and then owns) ``http`` if not given."""
        config = IoApiClientConfig.from_settings(settings)
        if http is None:
            return cls(config, build_http_client(config), observer, owns_http=True)
        return cls(config, http, observer)

    def __repr__(self) -> str:
        return f"IoApiClient(base_url={self._base!r}, client_id={self._config.client_id!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop a token refresh in flight; close ``http`` if this client owns it."""
        await self._auth.aclose()
        if self._owns_http:
            await self._http.aclose()

    # ------------------------------------------------------------ operations (contract §3)

    async def get_presigned_url(
        self, tenant_id: str, *, upload_type: UploadType = "raw_data"
    ) -> PresignedUrl:
        """``GET /presigned_url``; ``type`` is sent only when not the default (older revision)."""
        params = {"type": upload_type} if upload_type != "raw_data" else None
        call = Call("presigned_url", "GET", self._url("presigned_url"), _tenant(tenant_id), params)
        presigned = parse_body(PresignedUrl, await self._runner.run(call), call.operation)
        log.debug(
            "io_api.presigned_url",
            tenant_id=tenant_id,
            job_id=presigned.job_id,
            url=redact_url(presigned.url.get_secret_value()),
        )
        return presigned

    async def upload(self, presigned: PresignedUrl, body: UploadBody) -> None:
        """PUT ``body`` to the presigned URL with no headers of ours; starts validation."""
        url = presigned.url.get_secret_value()
        content = _json(body)
        call = Call("upload", "PUT", url, content=content, bearer=False, bare=True)
        await self._runner.run(call)
        self._jobs.record(presigned.job_id)
        log.debug(
            "io_api.uploaded", job_id=presigned.job_id, url=redact_url(url), bytes=len(content)
        )

    async def get_status(self, tenant_id: str, job_id: str) -> JobStatus:
        """``GET /status`` with ``tenantId`` and ``jobId`` headers."""
        return await self._job_get("status", "status", tenant_id, job_id, JobStatus)

    async def start_trainer(self, tenant_id: str, request: StartTrainerRequest) -> JobStarted:
        """``POST /start_trainer``; 202 ``{jobId, message}``."""
        return await self._start("start_trainer", "start_trainer", tenant_id, request)

    async def create_prediction(
        self, tenant_id: str, request: CreatePredictionRequest
    ) -> JobStarted:
        """``POST /create_prediction``; 202 ``{jobId, message}``."""
        return await self._start("create_prediction", "create_prediction", tenant_id, request)

    async def get_results(self, tenant_id: str, job_id: str) -> ResultsResponse:
        """``GET /results`` of a prediction job."""
        return await self._job_get("results", "results", tenant_id, job_id, ResultsResponse)

    async def start_classification(
        self, tenant_id: str, request: StartClassificationRequest
    ) -> JobStarted:
        """``POST /start_inventory_classification``; 202 ``{jobId, message}``."""
        path = "start_inventory_classification"
        return await self._start("start_classification", path, tenant_id, request)

    async def get_classification_results(
        self, tenant_id: str, job_id: str
    ) -> ClassificationResultsResponse:
        """``GET /inventory_classification_results`` of a classification job."""
        path, model = "inventory_classification_results", ClassificationResultsResponse
        return await self._job_get("classification_results", path, tenant_id, job_id, model)

    async def delete_data(
        self,
        tenant_id: str,
        dataset_id: str,
        *,
        from_date: date | None = None,
        to_date: date | None = None,
    ) -> MessageResponse:
        """``DELETE /data/{datasetId}``, optionally limited by ``fromDate``/``toDate``."""
        dates = {"fromDate": from_date, "toDate": to_date}
        params = {key: day.isoformat() for key, day in dates.items() if day is not None}
        url = self._url(f"data/{quote(dataset_id, safe='')}")
        call = Call("delete_data", "DELETE", url, _tenant(tenant_id) | _JSON, params or None)
        response = await self._runner.run(call)
        if not response.content:
            return MessageResponse()
        return parse_body(MessageResponse, response, call.operation)

    # ------------------------------------------------------------ helpers

    async def _start(
        self, operation: str, path: str, tenant_id: str, request: OutboundModel
    ) -> JobStarted:
        headers = _tenant(tenant_id) | _JSON
        call = Call(operation, "POST", self._url(path), headers, content=_json(request))
        started = parse_body(JobStarted, await self._runner.run(call), operation)
        self._jobs.record(started.job_id)
        return started

    async def _job_get(
        self, operation: str, path: str, tenant_id: str, job_id: str, model: type[_JobAnswer]
    ) -> _JobAnswer:
        headers = _tenant(tenant_id) | {"jobId": job_id}
        call = Call(operation, "GET", self._url(path), headers, job_id=job_id)
        return parse_body(model, await self._runner.run(call), operation)

    async def _fetch_token(self) -> TokenResponse:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._config.client_id,
            "client_secret": self._config.client_secret.get_secret_value(),
            "scope": self._config.scope,
        }
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        content = urlencode(form).encode()
        url = self._config.token_url
        # The token endpoint is Visma Connect, not the API gateway: no shared limiter.
        call = Call("token", "POST", url, headers, content=content, bearer=False, limited=False)
        return parse_body(TokenResponse, await self._runner.run(call), call.operation)

    def _url(self, path: str) -> str:
        return f"{self._base}/{path}"


def _tenant(tenant_id: str) -> dict[str, str]:
    return {"tenantId": tenant_id}


def _json(model: OutboundModel) -> bytes:
    return model.model_dump_json(exclude_none=True).encode()
