"""``create_app``: the emulator as one Starlette ASGI app.

Layout (project decision): the IO API under ``/io``, the token endpoint at
``/connect/token``, presigned uploads at ``/_storage/{uploadId}``, the admin API under
``/_emulator``. Errors are always ``{"error", "message"}`` JSON: deliberate ones come from
:class:`~emulator.errors.ApiError`, unknown routes are 404, wrong methods 405, and anything
unexpected is a 500 with ``error = "internal_error"``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.admin import Admin
from emulator.api import IoApi
from emulator.config import EmulatorConfig
from emulator.edge import Edge
from emulator.errors import ApiError
from emulator.gateway import Gateway, error_response
from emulator.state import Emulator

log = logging.getLogger("emulator")
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


class EmulatorApp(Starlette):
    """The ASGI app; ``emulator`` exposes its state (engine, store, config) to tests."""

    emulator: Emulator

    async def aclose(self) -> None:
        """Cancel running jobs and close the webhook client (the lifespan does it too)."""
        await self.emulator.engine.aclose()


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)  # noqa: S101 - registered for ApiError only
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = (
        f"no route {request.method} {request.url.path}"
        if exc.status_code in (404, 405)
        else str(exc.detail)
    )
    return JSONResponse(
        {"error": code, "message": message}, status_code=exc.status_code, headers=exc.headers
    )


async def _crash(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"error": "internal_error", "message": "unexpected error in the emulator"}, status_code=500
    )


def create_app(
    config: EmulatorConfig | None = None,
    *,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> EmulatorApp:
    """A fresh emulator with its own state. ``webhook_transport`` routes callbacks (tests)."""
    emulator = Emulator(config or EmulatorConfig(), webhook_transport)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await emulator.engine.aclose()

    app = EmulatorApp(
        routes=[*IoApi(emulator).routes(), *Edge(emulator).routes(), *Admin(emulator).routes()],
        middleware=[Middleware(Gateway, emulator=emulator)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _crash},
        lifespan=lifespan,
    )
    app.emulator = emulator
    return app
