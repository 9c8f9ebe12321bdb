"""Bad answers: non-JSON bodies and wrong shapes raise clear, non-retriable errors."""

from __future__ import annotations

import httpx
import pytest

from service.adapters.io_api import IoApiClient
from service.adapters.io_api_responses import error_detail, redact_url
from service.errors import IoApiBadResponseError, IoApiRejectedError
from tests.unit.test_io_api_fakes import FakeTime, ScriptedApi, config, make_client, reply


async def test_a_non_json_body_is_a_bad_response() -> None:
    """An HTML page with 200 raises IoApiBadResponseError naming size and content type."""
    api = ScriptedApi()
    page = httpx.Response(200, text="<html>gateway</html>", headers={"content-type": "text/html"})
    api.script("/io/status", page)
    async with make_client(api, FakeTime()) as io:
        with pytest.raises(IoApiBadResponseError) as caught:
            await io.get_status("t", "j")
    assert not caught.value.retriable
    assert str(caught.value) == (
        "IO API status (HTTP 200): body is not JSON (20 bytes, content-type text/html)"
    )


async def test_an_empty_body_where_json_is_due_is_a_bad_response() -> None:
    """A 202 with no body from start_trainer cannot yield a job id."""
    from tests.unit.test_io_api_client import TRAIN  # noqa: PLC0415 - a shared request body

    api = ScriptedApi()
    api.script("/io/start_trainer", reply(202))
    async with make_client(api, FakeTime()) as io:
        with pytest.raises(IoApiBadResponseError, match="body is not JSON"):
            await io.start_trainer("t", TRAIN)


async def test_a_wrong_shape_names_the_model_and_the_fields() -> None:
    """A list instead of an object, or a missing field, is reported by location."""
    api = ScriptedApi()
    api.script("/io/status", reply(200, ["inProgress"]))
    api.script("/io/results", reply(200, {"message": "done", "results": [{}]}))
    async with make_client(api, FakeTime()) as io:
        with pytest.raises(IoApiBadResponseError, match="body is not a JobStatus: <body>"):
            await io.get_status("t", "j")
        with pytest.raises(IoApiBadResponseError) as caught:
            await io.get_results("t", "j")
    assert "results.0.datasetId: Field required" in str(caught.value)
    assert "(+1 more)" in str(caught.value)


async def test_a_wrong_shape_is_not_retried() -> None:
    """A bad body fails at once: no backoff sleep, one request."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/io/presigned_url", reply(200, {"jobId": "j"}))
    async with make_client(api, time) as io:
        with pytest.raises(IoApiBadResponseError, match="url: Field required"):
            await io.get_presigned_url("t")
    assert time.sleeps == []
    assert api.paths().count("/io/presigned_url") == 1


async def test_a_redirect_is_refused_not_followed() -> None:
    """A 302 from the API is a rejection; the client never follows it with the token."""
    api = ScriptedApi()
    api.script("/io/status", httpx.Response(302, headers={"Location": "https://elsewhere.test/"}))
    async with make_client(api, FakeTime()) as io:
        with pytest.raises(IoApiRejectedError, match="HTTP 302"):
            await io.get_status("t", "j")
    assert all(request.url.host != "elsewhere.test" for request in api.requests)


async def test_a_delete_answered_without_body_has_no_message() -> None:
    """DELETE may answer 200/204 with nothing: that is a MessageResponse without message."""
    api = ScriptedApi()
    api.script("/io/data/d1", httpx.Response(204))
    async with make_client(api, FakeTime()) as io:
        answer = await io.delete_data("t", "d1")
    assert answer.message is None


def test_error_detail_shortens_long_messages_and_survives_garbage() -> None:
    """The API's error text is cut at 200 characters; non-JSON bodies give a placeholder."""
    long = httpx.Response(400, json={"error": "bad", "message": "x" * 500})
    assert len(error_detail(long)) == 200
    assert error_detail(httpx.Response(500, text="oops")) == "no error body"
    assert error_detail(httpx.Response(500, json={})) == "no error body"


def test_redact_url_keeps_scheme_host_port_and_path_only() -> None:
    """Query, fragment and user info are dropped from a URL before it is logged."""
    url = "https://user:pw@storage.test:8443/bucket/key.json?X-Amz-Signature=abc#frag"
    assert redact_url(url) == "https://storage.test:8443/bucket/key.json"


async def test_an_undecodable_body_is_a_bad_response() -> None:
    """A body httpx cannot decode (DecodingError) is IoApiBadResponseError, not an httpx error."""
    api = ScriptedApi()
    request = httpx.Request("GET", "https://io.test/io/status")
    api.script("/io/status", httpx.DecodingError("bad gzip", request=request))
    async with make_client(api, FakeTime()) as io:
        with pytest.raises(IoApiBadResponseError, match="unreadable body: DecodingError"):
            await io.get_status("t", "j")


async def test_a_presigned_url_that_cannot_be_requested_fails_at_once() -> None:
    """An unsupported scheme in the URL is a non-retriable rejection that does not quote it."""
    from schemas.io_api import PresignedUrl  # noqa: PLC0415
    from tests.unit.test_io_api_client import UPLOAD  # noqa: PLC0415

    time = FakeTime()
    presigned = PresignedUrl.model_validate({"url": "ftp://files.test/u?sig=abc", "jobId": "j"})
    # httpx's own transport refuses the scheme before any network activity.
    http = httpx.AsyncClient()
    io = IoApiClient(config(), http, clock=time.clock, sleep=time.sleep, owns_http=True)
    async with io:
        with pytest.raises(IoApiRejectedError) as caught:
            await io.upload(presigned, UPLOAD)
    assert "URL not requestable: UnsupportedProtocol" in str(caught.value)
    assert "sig=abc" not in str(caught.value)
    assert time.sleeps == []
