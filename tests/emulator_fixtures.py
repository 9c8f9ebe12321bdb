"""Pytest plugin: the IO API emulator, in-process and as a real HTTP server.

Fixtures:

- ``emulator_config`` — an :class:`EmulatorConfig` with near-instant jobs (``job_seconds=0.05``);
  override it in a test module to change knobs at start.
- ``emulator_app`` — a fresh in-process app built from ``emulator_config``; closed after.
- ``emulator_server`` — a real uvicorn server for ``emulator_config`` on 127.0.0.1 and a free
  port, in a background thread; yields its base URL ``http://127.0.0.1:PORT`` (IO API at
  ``/io``, token at ``/connect/token``); stopped and joined after.
- ``emulator_target`` — parametrized ``inprocess`` / ``http``: an :class:`EmulatorTarget` with
  the base URL and, in-process, the ASGI transport to use — so one set of cases runs both ways.
- ``emulator_client`` — an ``httpx.AsyncClient`` on ``emulator_target`` (base URL = root).
"""

from __future__ import annotations

import functools
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import pytest
import uvicorn

from emulator import EmulatorApp, EmulatorConfig, create_app

IN_PROCESS_HOST = "io-emulator.test"
IN_PROCESS_URL = f"http://{IN_PROCESS_HOST}"
Mode = Literal["inprocess", "http"]


@dataclass(frozen=True)
class EmulatorTarget:
    """Where an emulator answers: a base URL and, in-process, the transport to reach it."""

    mode: Mode
    base_url: str
    transport: httpx.AsyncBaseTransport | None = None

    @property
    def io_url(self) -> str:
        """Base URL of the IO API (``…/io``)."""
        return f"{self.base_url}/io"

    @property
    def token_url(self) -> str:
        """URL of the token endpoint."""
        return f"{self.base_url}/connect/token"

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """A client on this target; pass ``base_url=`` to change the default root URL."""
        options: dict[str, Any] = {"base_url": self.base_url, "timeout": 30.0}
        if self.transport is None:
            options["verify"] = tls_context()
        options |= kwargs
        return httpx.AsyncClient(transport=self.transport, **options)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One default TLS context for every test client: building one per client costs ~50 ms."""
    return ssl.create_default_context()


class _SelfRouting(httpx.AsyncBaseTransport):
    """Webhooks of an in-process app: its own host goes back into the app, others to the net."""

    def __init__(self) -> None:
        self.app: EmulatorApp | None = None
        self._net = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == IN_PROCESS_HOST and self.app is not None:
            return await httpx.ASGITransport(app=self.app).handle_async_request(request)
        return await self._net.handle_async_request(request)

    async def aclose(self) -> None:
        await self._net.aclose()


def in_process_app(config: EmulatorConfig) -> EmulatorApp:
    """An app whose webhooks to ``IN_PROCESS_URL`` reach the app itself."""
    routing = _SelfRouting()
    app = create_app(config, webhook_transport=routing)
    routing.app = app
    return app


class ServerThread:
    """A uvicorn server for one app on a background thread (a context manager)."""

    def __init__(self, app: EmulatorApp, startup_timeout: float = 10.0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", ws="none", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._timeout = startup_timeout

    def __enter__(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator server did not start")
            time.sleep(0.005)
        return self.base_url

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """Default knobs with near-instant jobs."""
    return EmulatorConfig(job_seconds=0.05)


@pytest.fixture
async def emulator_app(emulator_config: EmulatorConfig) -> AsyncIterator[EmulatorApp]:
    """A fresh in-process emulator app."""
    app = in_process_app(emulator_config)
    try:
        yield app
    finally:
        await app.aclose()


@pytest.fixture
def emulator_server(emulator_config: EmulatorConfig) -> Iterator[str]:
    """Base URL of a real emulator server on 127.0.0.1 (a fresh one per test)."""
    with ServerThread(create_app(emulator_config)) as base_url:
        yield base_url


@pytest.fixture(params=["inprocess", "http"])
def emulator_target(request: pytest.FixtureRequest) -> EmulatorTarget:
    """The emulator in-process, then over real HTTP: one case, both transports."""
    if request.param == "inprocess":
        app: EmulatorApp = request.getfixturevalue("emulator_app")
        return EmulatorTarget("inprocess", IN_PROCESS_URL, httpx.ASGITransport(app=app))
    return EmulatorTarget("http", request.getfixturevalue("emulator_server"))


@pytest.fixture
async def emulator_client(emulator_target: EmulatorTarget) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` whose base URL is the emulator's root."""
    async with emulator_target.client() as client:
        yield client
