"""One IO API call, start to finish: admission, auth, timeout, retries, error translation.

This is the only module that catches ``httpx`` exceptions; they leave as ``service.errors``
classes raised ``from None``, so no request, URL or header rides along in a traceback.

Retry policy for each call:

* connection errors, timeouts and 5xx: up to ``max_retries`` retries, sleeping an "equal
  jitter" exponential backoff, ``d/2 + U(0, d/2)`` with ``d = min(max, base * 2**n)``;
* 429: the ``Retry-After`` delay (seconds or HTTP date, RFC 9110 §10.2.3; else the backoff)
  pauses the *whole* client through the shared limiter, and counts against the same budget;
* 401/403 on a bearer call: one token refresh and one immediate retry, outside the budget;
* 404 on a job this client created less than ``not_visible_window`` ago: retried with backoff
  until the window closes (io-api-contract.md §3.3: jobs show up in ``/status`` with a delay);
* any other answer that is not 2xx fails at once.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import httpx
import structlog
from pydantic import SecretStr

from service.adapters.io_api_auth import TokenProvider
from service.adapters.io_api_config import IoApiClientConfig
from service.adapters.io_api_limiter import RequestLimiter
from service.adapters.io_api_responses import error_detail, parse_retry_after, status_class
from service.errors import (
    IoApiAuthError,
    IoApiBadResponseError,
    IoApiError,
    IoApiNotFoundError,
    IoApiRateLimitedError,
    IoApiRejectedError,
    IoApiUnavailableError,
    PresignedUrlRejectedError,
)
from service.ports import IoApiObserver

log = structlog.get_logger(__name__)

_RECENT_JOBS_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class Call:
    """What to send.

    ``bearer`` adds the token; ``limited`` passes the shared limiter; ``bare`` sends only URL and
    body (no client default headers: the presigned PUT); ``job_id`` enables the 404 window.
    """

    operation: str
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] | None = None
    content: bytes | None = None
    bearer: bool = True
    limited: bool = True
    bare: bool = False
    job_id: str | None = None


class _TransientError(Exception):
    """An attempt failed before an HTTP answer (timeout or connection error)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class _Budget:
    retries: int = 0
    refreshed: bool = False
    hidden: int = 0  # 404 "not visible yet" retries: bounded by the window, not the budget


class RecentJobs:
    """Creation times of jobs this client started, kept for the 404 window (bounded)."""

    def __init__(self, window: float, clock: Callable[[], float]) -> None:
        self._window = window
        self._clock = clock
        self._created: OrderedDict[str, float] = OrderedDict()

    def record(self, job_id: str) -> None:
        """Remember that ``job_id`` was created now."""
        self._created[job_id] = self._clock()
        self._created.move_to_end(job_id)
        while len(self._created) > _RECENT_JOBS_KEPT:
            self._created.popitem(last=False)

    def remaining(self, job_id: str | None) -> float:
        """Seconds left in the job's "not visible yet" window (0 when unknown or closed)."""
        created = self._created.get(job_id) if job_id else None
        if created is None:
            return 0.0
        left = created + self._window - self._clock()
        if left <= 0:
            self._created.pop(job_id or "", None)
        return max(left, 0.0)


class RequestRunner:
    """Runs :class:`Call` s over one ``httpx.AsyncClient`` with the policy above."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        config: IoApiClientConfig,
        *,
        limiter: RequestLimiter,
        auth: TokenProvider,
        jobs: RecentJobs,
        observer: IoApiObserver,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        jitter: Callable[[], float],
    ) -> None:
        self._http = http
        self._config = config
        self._limiter = limiter
        self._auth = auth
        self._jobs = jobs
        self._observer = observer
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._timeout = httpx.Timeout(config.timeout)

    async def run(self, call: Call) -> httpx.Response:
        """Send ``call`` until it succeeds (2xx) or the policy gives up with an IoApiError."""
        budget = _Budget()
        while True:
            token = await self._auth.current() if call.bearer else None
            try:
                response = await self._attempt(call, token)
            except _TransientError as failure:
                await self._after_transient(call, budget, failure)
                continue
            if response.is_success:
                return response
            await self._after_refusal(call, budget, response, token)

    def backoff(self, retry: int) -> float:
        """Equal-jitter exponential delay before retry number ``retry`` (0-based)."""
        ceiling = min(self._config.backoff_max, self._config.backoff_base * 2.0**retry)
        return ceiling / 2 + self._jitter() * ceiling / 2

    async def _attempt(self, call: Call, token: SecretStr | None) -> httpx.Response:
        if not call.limited or self._limiter.admits_freely():
            return await self._send(call, token)
        async with self._limiter.slot() as waited:
            if waited > 0:
                self._observer.rate_limit_waited(waited)
            return await self._send(call, token)

    async def _send(self, call: Call, token: SecretStr | None) -> httpx.Response:
        started = self._clock()
        try:
            request = self._build(call, token)
            async with asyncio.timeout(self._config.timeout):
                response = await self._http.send(request)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            # A URL that cannot be requested fails the same way every time (config or API bug).
            self._finished(call, "error", started)
            raise IoApiRejectedError(call.operation, f"URL not requestable: {_name(exc)}") from None
        except (UnicodeEncodeError, httpx.LocalProtocolError) as exc:
            # A header value HTTP cannot carry (non-ASCII, surrounding spaces, a line break):
            # the request can never be sent, so retrying would only wait for the job timeout.
            self._finished(call, "error", started)
            raise IoApiRejectedError(
                call.operation, f"request not sendable: {_name(exc)}"
            ) from None
        except (httpx.TimeoutException, TimeoutError):
            self._finished(call, "error", started)
            detail = f"no answer within {self._config.timeout:g} s"
            raise _TransientError("timeout", detail) from None
        except httpx.TransportError as exc:
            self._finished(call, "error", started)
            raise _TransientError("connection", _name(exc)) from None
        except httpx.HTTPError as exc:  # DecodingError: the body could not be decoded
            self._finished(call, "error", started)
            raise IoApiBadResponseError(call.operation, f"unreadable body: {_name(exc)}") from None
        self._finished(call, status_class(response.status_code), started)
        return response

    def _build(self, call: Call, token: SecretStr | None) -> httpx.Request:
        headers = dict(call.headers)
        if token is not None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        timeout = self._timeout
        if call.bare:
            # The presigned PUT carries no client defaults and no auth (contract §3.2).
            return httpx.Request(
                call.method,
                call.url,
                content=call.content,
                extensions={"timeout": timeout.as_dict()},
            )
        return self._http.build_request(
            call.method,
            call.url,
            headers=headers,
            params=call.params,
            content=call.content,
            timeout=timeout,
        )

    def _finished(self, call: Call, klass: str, started: float) -> None:
        self._observer.request_finished(call.operation, klass, self._clock() - started)

    async def _after_transient(self, call: Call, budget: _Budget, failure: _TransientError) -> None:
        if budget.retries >= self._config.max_retries:
            raise IoApiUnavailableError(call.operation, f"{failure.detail}; retries exhausted")
        await self._retry_later(call, budget, failure.reason)

    async def _after_refusal(
        self, call: Call, budget: _Budget, response: httpx.Response, token: SecretStr | None
    ) -> None:
        code = response.status_code
        if code in (401, 403) and token is not None and not budget.refreshed:
            budget.refreshed = True
            self._retried(call, "auth", code=code)
            await self._auth.replace(token)
        elif code == 429:
            await self._after_429(call, budget, response)
        elif code >= 500:
            if budget.retries >= self._config.max_retries:
                raise IoApiUnavailableError(call.operation, _retries_spent(response), code)
            await self._retry_later(call, budget, "5xx")
        elif code == 404 and (left := self._jobs.remaining(call.job_id)) > 0:
            delay = min(self.backoff(budget.hidden), left)
            budget.hidden += 1
            self._retried(call, "not_visible", delay=delay)
            await self._sleep(delay)
        else:
            raise refusal_error(call, response)

    async def _after_429(self, call: Call, budget: _Budget, response: httpx.Response) -> None:
        hint = parse_retry_after(response.headers.get("Retry-After"))
        if budget.retries >= self._config.max_retries:
            detail = _retries_spent(response)
            raise IoApiRateLimitedError(call.operation, detail, retry_after=hint)
        delay = hint if hint is not None else self.backoff(budget.retries)
        budget.retries += 1
        self._retried(call, "429", delay=delay)
        if call.limited:
            self._limiter.pause_for(delay)  # every caller of this client waits, not just us
        else:
            await self._sleep(delay)

    async def _retry_later(self, call: Call, budget: _Budget, reason: str) -> None:
        delay = self.backoff(budget.retries)
        budget.retries += 1
        self._retried(call, reason, delay=delay)
        await self._sleep(delay)

    def _retried(self, call: Call, reason: str, **fields: float | int) -> None:
        self._observer.retried(call.operation, reason)
        log.info("io_api.retry", operation=call.operation, reason=reason, **fields)


def _name(exc: Exception) -> str:
    """An httpx exception's class name: its message may quote the URL, so it stays behind."""
    return type(exc).__name__


def _retries_spent(response: httpx.Response) -> str:
    return f"{error_detail(response)}; retries exhausted"


def refusal_error(call: Call, response: httpx.Response) -> IoApiError:
    """The error for a non-retriable answer: auth, URL, not-found or plain rejection."""
    code, detail = response.status_code, error_detail(response)
    if call.bare and code in (401, 403):
        return PresignedUrlRejectedError(call.operation, detail, code)
    if code in (401, 403) or (call.operation == "token" and code == 400):
        return IoApiAuthError(call.operation, detail, code)
    if code == 404:
        return IoApiNotFoundError(call.operation, detail, code)
    return IoApiRejectedError(call.operation, detail, code)
