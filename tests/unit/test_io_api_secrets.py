"""Secrets never leave: not in logs (ours or httpx's), exception texts, tracebacks or reprs."""

from __future__ import annotations

import logging
import traceback

import pytest
import structlog
from pydantic import SecretStr

from schemas.io_api import PresignedUrl
from service.adapters.io_api_config import IoApiClientConfig
from service.errors import IoApiError
from tests.unit.test_io_api_client import UPLOAD
from tests.unit.test_io_api_fakes import (
    CLIENT_SECRET,
    SIGNATURE,
    FakeTime,
    ScriptedApi,
    config,
    make_client,
    reply,
)


def _leaks(text: str, api: ScriptedApi) -> list[str]:
    tokens = [f"tok-{n}" for n in range(1, api.tokens_issued + 1)]
    return [secret for secret in (CLIENT_SECRET, SIGNATURE, *tokens) if secret in text]


async def _every_path_once(api: ScriptedApi) -> list[str]:
    """Run operations through refresh, 429, 5xx and failures; return the error texts."""
    api.script("/io/status", reply(401), reply(429, **{"Retry-After": "1"}), reply(503))
    api.script("/upload/job-up", *[reply(500)] * 4)
    api.script("/connect/token", reply(200, {"access_token": "tok-999", "expires_in": "soon"}))
    texts: list[str] = []
    async with make_client(api, FakeTime()) as io:
        with pytest.raises(IoApiError) as bad_token:
            await io.get_status("t", "j")
        texts += _describe(bad_token.value)
        await io.get_status("t", "j")
        presigned = await io.get_presigned_url("t")
        with pytest.raises(IoApiError) as failed_upload:
            await io.upload(presigned, UPLOAD)
        texts += _describe(failed_upload.value)
        texts += [repr(io), repr(presigned), str(presigned), repr(io._auth)]
    return texts


def _describe(error: BaseException) -> list[str]:
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


async def test_no_secret_reaches_logs_or_exception_texts(caplog: pytest.LogCaptureFixture) -> None:
    """Client secret, tokens and the presigned signature appear in no captured output."""
    api = ScriptedApi()
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        texts = await _every_path_once(api)
    api.tokens_issued += 1  # "tok-999", the malformed token response, counts as a secret too
    logged = [str(event) for event in events] + [record.getMessage() for record in caplog.records]
    assert any("io_api.retry" in line for line in logged)
    assert any("storage.test/upload/job-up" in line for line in logged)
    assert any("HTTP Request: PUT" in line for line in logged)  # httpx's own line, redacted
    assert _leaks("\n".join(logged), api) == []
    assert _leaks("\n".join(texts), api) == []
    assert "tok-999" not in "\n".join(texts)


def test_config_and_models_show_no_secret_in_repr() -> None:
    """The config dataclass and the presigned-URL model mask their secrets."""
    presigned = PresignedUrl.model_validate({"url": f"https://s.test/u?{SIGNATURE}", "jobId": "j"})
    shown = repr(config()) + str(config()) + repr(presigned) + str(presigned.model_dump())
    assert CLIENT_SECRET not in shown
    assert SIGNATURE not in shown


def test_the_config_secret_is_a_secret_str() -> None:
    """The configuration only holds the client secret as SecretStr."""
    cfg = IoApiClientConfig.for_environment("stage", "c", SecretStr(CLIENT_SECRET))
    assert isinstance(cfg.client_secret, SecretStr)
