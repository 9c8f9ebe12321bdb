"""A scripted IO API behind ``httpx.MockTransport`` and a fake clock, for the test_io_api_* units.

``ScriptedApi`` answers every operation with a valid default body; ``script(path, ...)`` queues
replies (responses or exceptions to raise) that are served first. ``FakeTime`` is a clock whose
``sleep`` records the delay and advances time at once.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from typing import Any

import httpx
from pydantic import SecretStr

from service.adapters.io_api import IoApiClient, IoApiClientConfig
from service.ports import IoApiObserver

CLIENT_SECRET = "client-secret-0f9e8d7c"
SIGNATURE = "X-Sig=presigned-signature-4b3a"
PRESIGNED = f"https://storage.test/upload/job-up?{SIGNATURE}"
BASE_URL = "https://io.test/io"
TOKEN_URL = "https://login.test/connect/token"

Reply = httpx.Response | Exception

RESULT = {
    "datasetId": "d1",
    "supplierId": "s1",
    "safetyStockSuggestion": {"quantity": 3.0},
    "reorderPointSuggestion": {"quantity": 12.5},
    "replenishmentSuggestion": {
        "quantity": 40.0,
        "validDateInterval": {"startDate": "2025-01-01", "endDate": "2025-02-01"},
    },
    "forecast": [{"date": "2025-01-06", "predictedQuantity": 5.0, "lowerQuantity": 1.0}],
    "historicalData": [{"date": "2024-12-30", "quantity": 4.0}],
}
CLASSIFICATION = {
    "datasetId": "d1",
    "abcCategory": "A",
    "isSeasonal": True,
    "seasonalities": [52, "weekly"],
    "demandType": "smooth",
    "trend": "increasing",
}


def reply(status: int = 200, body: Any = None, **headers: str) -> httpx.Response:
    """A JSON response (or an empty one when ``body`` is None)."""
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


class ScriptedApi:
    """The IO API and its token endpoint as a MockTransport handler; records every request."""

    def __init__(self, token_lifetime: float = 3600.0) -> None:
        self.requests: list[httpx.Request] = []
        self.token_lifetime = token_lifetime
        self.tokens_issued = 0
        self.delays: dict[str, float] = {}  # path -> seconds before answering
        self.arrivals: list[tuple[str, float]] = []  # (path, loop time) of each request
        self.seen: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.in_flight = 0
        self.max_in_flight = 0
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)

    def script(self, path: str, *replies: Reply) -> None:
        """Serve ``replies`` (in order) to the next requests for ``path``."""
        self._scripts[path].extend(replies)

    def paths(self) -> list[str]:
        """Paths of the requests received so far, in order."""
        return [request.url.path for request in self.requests]

    def transport(self) -> httpx.MockTransport:
        """A transport routing every request to this fake."""
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Scripted reply first, else the valid default for the path."""
        self.requests.append(request)
        self.arrivals.append((request.url.path, asyncio.get_running_loop().time()))
        self.seen[request.url.path].set()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delays.get(request.url.path, 0))
        finally:
            self.in_flight -= 1
        queue = self._scripts.get(request.url.path)
        if queue:
            item = queue.popleft()
            if isinstance(item, Exception):
                raise item
            return item
        return self._default(request)

    def _default(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/io")
        if path == "/connect/token":
            self.tokens_issued += 1
            token = {"access_token": f"tok-{self.tokens_issued}", "expires_in": self.token_lifetime}
            return reply(200, token | {"token_type": "Bearer"})
        return reply(*_DEFAULTS.get(path, (404, {"error": "not_found"})))

    def bearer_of(self, index: int) -> str | None:
        """The Authorization header of request ``index``."""
        header: str | None = self.requests[index].headers.get("Authorization")
        return header


_DEFAULTS: dict[str, tuple[int, Any]] = {
    "/presigned_url": (200, {"url": PRESIGNED, "jobId": "job-up", "message": "ok"}),
    "/upload/job-up": (200, None),
    "/status": (200, {"status": "inProgress", "datasetsStatus": []}),
    "/start_trainer": (202, {"jobId": "job-train", "message": "Training job started"}),
    "/create_prediction": (202, {"jobId": "job-pred"}),
    "/results": (200, {"results": [RESULT]}),
    "/start_inventory_classification": (202, {"jobId": "job-class"}),
    "/inventory_classification_results": (200, {"results": [CLASSIFICATION]}),
    "/data/d1": (200, {"message": "Data was deleted successfully."}),
}


class FakeTime:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        """The current fake time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the delay, advance the clock, yield to the loop once."""
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class RecordingObserver:
    """An IoApiObserver that keeps every call as a tuple."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def request_finished(self, operation: str, status_class: str, seconds: float) -> None:
        """Record a finished attempt."""
        self.events.append(("finished", operation, status_class))

    def rate_limit_waited(self, seconds: float) -> None:
        """Record a wait."""
        self.events.append(("waited", seconds))

    def token_refreshed(self, ok: bool) -> None:
        """Record a refresh."""
        self.events.append(("token", ok))

    def retried(self, operation: str, reason: str) -> None:
        """Record a retry."""
        self.events.append(("retried", operation, reason))


def config(**knobs: Any) -> IoApiClientConfig:
    """A unit-test configuration: small budgets, gates off unless asked for."""
    defaults: dict[str, Any] = {
        "timeout": 5.0,
        "max_retries": 3,
        "backoff_base": 0.1,
        "backoff_max": 1.0,
        "max_concurrency": None,
        "rate_limit_per_second": None,
        "token_refresh_margin": 60.0,
        "not_visible_window": 5.0,
    }
    return IoApiClientConfig(
        BASE_URL,
        TOKEN_URL,
        "machine-learning-factory-api-test:io",
        "client-1",
        SecretStr(CLIENT_SECRET),
        **(defaults | knobs),
    )


def make_client(
    api: ScriptedApi,
    time: FakeTime | None = None,
    observer: IoApiObserver | None = None,
    **knobs: Any,
) -> IoApiClient:
    """A client on ``api`` with fake time (when given) and a jitter fixed at 0.5."""
    http = httpx.AsyncClient(transport=api.transport())
    if time is None:
        return IoApiClient(config(**knobs), http, observer, jitter=lambda: 0.5, owns_http=True)
    return IoApiClient(
        config(**knobs),
        http,
        observer,
        clock=time.clock,
        sleep=time.sleep,
        jitter=lambda: 0.5,
        owns_http=True,
    )


def body_of(request: httpx.Request) -> Any:
    """The JSON body of a recorded request."""
    return json.loads(request.content)


async def test_the_fake_issues_a_new_token_per_token_request() -> None:
    """Each token request to the fake yields a fresh token, so refreshes are countable."""
    api = ScriptedApi()
    async with httpx.AsyncClient(transport=api.transport()) as http:
        first = (await http.post(TOKEN_URL)).json()["access_token"]
        second = (await http.post(TOKEN_URL)).json()["access_token"]
    assert (first, second) == ("tok-1", "tok-2")
