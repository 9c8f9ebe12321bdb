"""Bad answers from a broken gateway in front of the emulator, in-process and over real HTTP.

The emulator itself always answers well-formed JSON, so a small ASGI proxy spoils chosen
routes: HTML where JSON is due, JSON of the wrong shape, an HTML 502 page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator import EmulatorConfig
from service.adapters.io_api import IoApiClient
from service.errors import IoApiBadResponseError, IoApiUnavailableError
from tests.emulator_fixtures import (
    IN_PROCESS_URL,
    EmulatorTarget,
    ServerThread,
    in_process_app,
)
from tests.integration.test_io_api_client import TENANT, client_config, upload_body
from tests.unit.test_io_api_client import TRAIN

HTML = "text/html; charset=utf-8"
SPOILED: dict[str, tuple[int, str, bytes]] = {
    "/io/status": (200, HTML, b"<html><body>Service temporarily moved</body></html>"),
    "/io/results": (200, "application/json", b'{"results": "not a list"}'),
    "/io/start_trainer": (202, "application/json", b"[]"),
    "/io/inventory_classification_results": (502, HTML, b"<html>Bad Gateway</html>"),
}


class BrokenGateway:
    """ASGI proxy: answers the ``SPOILED`` routes itself, passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.spoiled_calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        spoiled = SPOILED.get(scope.get("path", "")) if scope["type"] == "http" else None
        if spoiled is None:
            await self.app(scope, receive, send)
            return
        self.spoiled_calls += 1
        status, content_type, body = spoiled
        headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def gateway() -> BrokenGateway:
    """A broken gateway in front of a fresh emulator."""
    return BrokenGateway(in_process_app(EmulatorConfig(job_seconds=0.05)))


@pytest.fixture(params=["inprocess", "http"])
def broken_target(
    request: pytest.FixtureRequest, gateway: BrokenGateway
) -> Iterator[EmulatorTarget]:
    """The broken gateway in-process, then served by uvicorn."""
    if request.param == "inprocess":
        yield EmulatorTarget("inprocess", IN_PROCESS_URL, httpx.ASGITransport(app=gateway))
        return
    with ServerThread(gateway) as base_url:  # type: ignore[arg-type] # any ASGI app serves
        yield EmulatorTarget("http", base_url)


@pytest.fixture
async def io(broken_target: EmulatorTarget) -> AsyncIterator[IoApiClient]:
    """A client on the broken target with a small retry budget."""
    async with broken_target.client() as http:
        config = client_config(broken_target, max_retries=2)
        async with IoApiClient(config, http) as client:
            yield client


async def test_html_where_json_is_due_is_a_bad_response(
    io: IoApiClient, gateway: BrokenGateway
) -> None:
    """A 200 HTML page from /status raises IoApiBadResponseError at once, not retriable."""
    presigned = await io.get_presigned_url(TENANT)
    await io.upload(presigned, upload_body())
    with pytest.raises(IoApiBadResponseError) as caught:
        await io.get_status(TENANT, presigned.job_id)
    assert not caught.value.retriable
    assert "body is not JSON" in str(caught.value)
    assert "text/html" in str(caught.value)
    assert gateway.spoiled_calls == 1


async def test_json_of_the_wrong_shape_is_a_bad_response(io: IoApiClient) -> None:
    """A results list that is a string, or an array for a job start, name what is wrong."""
    with pytest.raises(IoApiBadResponseError, match="results: Input should be a valid array"):
        await io.get_results(TENANT, "any-job")
    with pytest.raises(IoApiBadResponseError, match="not a JobStarted: <body>"):
        await io.start_trainer(TENANT, TRAIN)


async def test_an_html_502_is_retried_then_reported_as_unavailable(
    io: IoApiClient, gateway: BrokenGateway
) -> None:
    """A proxy's HTML 502 is retriable: three attempts, then IoApiUnavailableError."""
    with pytest.raises(IoApiUnavailableError) as caught:
        await io.get_classification_results(TENANT, "any-job")
    assert caught.value.retriable
    assert "HTTP 502" in str(caught.value)
    assert "no error body" in str(caught.value)
    assert gateway.spoiled_calls == 3
