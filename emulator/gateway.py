"""The API-gateway layer: fault injection and call counting, in front of every route.

For everything outside ``/_emulator/``, in this order: ``latency_seconds`` of delay; the
``rate_limit_per_second`` token bucket (429 with ``Retry-After`` = seconds until a slot);
``rate_429`` random 429s (``Retry-After`` = ``retry_after_seconds``); ``rate_5xx`` random 500s.
Randomness comes from one RNG seeded with ``seed``. Each answered call is counted by operation
and status code.
"""

from __future__ import annotations

import asyncio
import math
import time

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.errors import ApiError
from emulator.state import Emulator

ADMIN_PREFIX = "/_emulator"
_IO_OPERATIONS = {
    "/io/presigned_url": "presigned_url",
    "/io/status": "status",
    "/io/start_trainer": "start_trainer",
    "/io/create_prediction": "create_prediction",
    "/io/results": "results",
    "/io/start_inventory_classification": "start_inventory_classification",
    "/io/inventory_classification_results": "inventory_classification_results",
    "/io/real_time_prediction": "real_time_prediction",
    "/io/health_check": "health_check",
    "/io/data": "list_data",
    "/connect/token": "token",
}


def operation(method: str, path: str) -> str:
    """The operation name a request is counted under."""
    if path.startswith("/_storage/"):
        return "upload"
    if path.startswith("/io/data/"):
        return "delete_data" if method == "DELETE" else "unknown"
    return _IO_OPERATIONS.get(path.rstrip("/") or "/", "unknown")


def error_response(error: ApiError) -> JSONResponse:
    """The JSON answer of an :class:`ApiError`."""
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


class Gateway:
    """ASGI middleware applying the fault knobs and counting calls."""

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        status = 500

        async def counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            fault = await self._fault()
            if fault is None:
                await self.app(scope, receive, counting)
            else:
                await error_response(fault)(scope, receive, counting)
        finally:
            self.emulator.stats.call(operation(scope["method"], path), status)

    async def _fault(self) -> ApiError | None:
        cfg, rng = self.emulator.config, self.emulator.rng
        if cfg.latency_seconds > 0:
            await asyncio.sleep(cfg.latency_seconds)
        wait = self.emulator.bucket.wait(cfg.rate_limit_per_second, time.monotonic())
        if wait > 0:
            return _too_many(wait, "rate limit exceeded")
        if cfg.rate_429 > 0 and rng.random() < cfg.rate_429:
            return _too_many(cfg.retry_after_seconds, "injected 429 (rate_429 knob)")
        if cfg.rate_5xx > 0 and rng.random() < cfg.rate_5xx:
            return ApiError(500, "internal_error", "injected server error (rate_5xx knob)")
        return None


def _too_many(seconds: float, message: str) -> ApiError:
    retry = str(max(0, math.ceil(seconds)))
    return ApiError(429, "too_many_requests", message, {"Retry-After": retry})
