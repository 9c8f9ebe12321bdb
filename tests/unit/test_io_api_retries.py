"""The retry policy: backoff on 5xx and transport errors, 429 pauses, auth refresh, 404 window."""

from __future__ import annotations

import httpx
import pytest

from service.adapters.io_api_responses import parse_retry_after
from service.errors import (
    IoApiAuthError,
    IoApiNotFoundError,
    IoApiRateLimitedError,
    IoApiRejectedError,
    IoApiUnavailableError,
    PresignedUrlRejectedError,
)
from tests.unit.test_io_api_client import TRAIN, UPLOAD
from tests.unit.test_io_api_fakes import (
    FakeTime,
    RecordingObserver,
    ScriptedApi,
    make_client,
    reply,
)

ERROR = {"error": "internal", "message": "try later"}


async def test_5xx_answers_are_retried_with_growing_jittered_backoff() -> None:
    """Three 503s, then 200: the call succeeds after sleeping 0.075, 0.15, 0.3 s (jitter 0.5)."""
    api, time = ScriptedApi(), FakeTime()
    api.script(
        "/io/status",
        reply(503, ERROR),
        reply(500, ERROR),
        reply(502),
        reply(200, {"status": "success"}),
    )
    async with make_client(api, time) as io:
        status = await io.get_status("t", "j")
    assert status.status == "success"
    assert time.sleeps == pytest.approx([0.075, 0.15, 0.3])


async def test_the_backoff_is_capped_by_backoff_max() -> None:
    """Past the cap the delay stops growing (equal jitter of backoff_max)."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/io/status", *[reply(503)] * 6)
    async with make_client(api, time, max_retries=6, backoff_max=0.4) as io:
        await io.get_status("t", "j")
    assert time.sleeps == pytest.approx([0.075, 0.15, 0.3, 0.3, 0.3, 0.3])


async def test_a_call_that_exhausts_the_budget_raises_a_retriable_error() -> None:
    """max_retries=3: four 500s raise IoApiUnavailableError (retriable) with the API's text."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/io/status", *[reply(500, ERROR)] * 4)
    async with make_client(api, time) as io:
        with pytest.raises(IoApiUnavailableError) as caught:
            await io.get_status("t", "j")
    assert caught.value.retriable
    assert caught.value.status_code == 500
    assert "internal: try later" in str(caught.value)
    assert api.paths().count("/io/status") == 4


async def test_connection_errors_and_timeouts_are_retried() -> None:
    """ConnectError and ReadTimeout are transient: retried, then the call succeeds."""
    api, time = ScriptedApi(), FakeTime()
    request = httpx.Request("GET", "https://io.test/io/status")
    api.script(
        "/io/status",
        httpx.ConnectError("refused", request=request),
        httpx.ReadTimeout("slow", request=request),
    )
    observer = RecordingObserver()
    async with make_client(api, time, observer) as io:
        await io.get_status("t", "j")
    retries = [event for event in observer.events if event[0] == "retried"]
    assert retries == [("retried", "status", "connection"), ("retried", "status", "timeout")]
    assert ("finished", "status", "error") in observer.events


async def test_a_hanging_answer_is_cut_by_the_per_call_timeout() -> None:
    """A transport that never answers is abandoned after ``timeout`` and counted as retriable."""

    api = ScriptedApi()
    api.delays["/io/status"] = 3600
    async with make_client(api, max_retries=0, timeout=0.05) as io:
        with pytest.raises(IoApiUnavailableError, match=r"no answer within 0\.05 s"):
            await io.get_status("t", "j")


async def test_other_4xx_answers_fail_at_once_without_retry() -> None:
    """A 400 raises IoApiRejectedError (not retriable) after a single attempt."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/io/start_trainer", reply(400, {"error": "bad_request", "message": "horizon"}))
    async with make_client(api, time) as io:
        with pytest.raises(IoApiRejectedError) as caught:
            await io.start_trainer("t", TRAIN)
    assert not caught.value.retriable
    assert "bad_request: horizon" in str(caught.value)
    assert time.sleeps == []


async def test_429_waits_retry_after_seconds_and_then_succeeds() -> None:
    """Retry-After: 2 makes the client wait two seconds before the next attempt."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/io/status", reply(429, {"message": "slow down"}, **{"Retry-After": "2"}))
    observer = RecordingObserver()
    async with make_client(api, time, observer) as io:
        await io.get_status("t", "j")
    assert time.sleeps == [2.0]
    assert ("waited", 2.0) in observer.events
    assert ("retried", "status", "429") in observer.events
    assert ("finished", "status", "429") in observer.events


async def test_429_without_retry_after_backs_off_exponentially() -> None:
    """Without a hint the 429 pause is the regular backoff delay."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/io/status", reply(429), reply(429))
    async with make_client(api, time) as io:
        await io.get_status("t", "j")
    assert time.sleeps == pytest.approx([0.075, 0.15])


async def test_a_429_storm_longer_than_the_budget_raises_rate_limited() -> None:
    """Still 429 after max_retries: IoApiRateLimitedError, retriable, carrying the last hint."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/io/status", *[reply(429, **{"Retry-After": "1"})] * 4)
    async with make_client(api, time) as io:
        with pytest.raises(IoApiRateLimitedError) as caught:
            await io.get_status("t", "j")
    assert caught.value.retriable
    assert caught.value.retry_after == 1.0


def test_retry_after_accepts_seconds_and_http_dates_and_caps_them() -> None:
    """Delta-seconds, an HTTP-date, garbage and a huge value (RFC 9110 §10.2.3)."""
    now = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", lambda: now) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("86400") == 300.0


async def test_a_401_refreshes_the_token_once_and_retries() -> None:
    """401 → new token → the same call again, without consuming the retry budget."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/io/status", reply(401))
    async with make_client(api, time, max_retries=0) as io:
        await io.get_status("t", "j")
    assert api.paths() == ["/connect/token", "/io/status", "/connect/token", "/io/status"]
    assert api.bearer_of(3) == "Bearer tok-2"


async def test_a_403_after_a_fresh_token_is_an_auth_error() -> None:
    """A 403 that survives the refresh raises IoApiAuthError (not retriable)."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/io/status", reply(403, {"message": "Forbidden"}), reply(403))
    async with make_client(api, time) as io:
        with pytest.raises(IoApiAuthError) as caught:
            await io.get_status("t", "j")
    assert not caught.value.retriable
    assert api.tokens_issued == 2


async def test_refused_client_credentials_are_an_auth_error() -> None:
    """The token endpoint's 400 invalid_client becomes IoApiAuthError on operation 'token'."""
    api = ScriptedApi()
    api.script("/connect/token", reply(400, {"error": "invalid_client"}))
    async with make_client(api, FakeTime()) as io:
        with pytest.raises(IoApiAuthError, match="IO API token \\(HTTP 400\\): invalid_client"):
            await io.get_status("t", "j")


async def test_an_expired_presigned_url_is_reported_as_such() -> None:
    """A 403 from the storage is PresignedUrlRejectedError, and no token refresh happens."""
    api = ScriptedApi()
    api.script("/upload/job-up", reply(403))
    async with make_client(api, FakeTime()) as io:
        presigned = await io.get_presigned_url("t")
        with pytest.raises(PresignedUrlRejectedError):
            await io.upload(presigned, UPLOAD)
    assert api.tokens_issued == 1


async def test_a_404_on_a_job_just_created_is_retried_within_the_window() -> None:
    """Right after start_trainer, /status 404s twice and then answers: the caller sees 200."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/io/status", reply(404), reply(404))
    observer = RecordingObserver()
    async with make_client(api, time, observer) as io:
        started = await io.start_trainer("t", TRAIN)
        status = await io.get_status("t", started.job_id)
    assert status.status == "inProgress"
    assert observer.events.count(("retried", "status", "not_visible")) == 2


async def test_a_404_that_outlasts_the_window_is_not_found() -> None:
    """A job that stays invisible past the window raises IoApiNotFoundError."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/io/status", *[reply(404)] * 100)
    async with make_client(api, time, not_visible_window=2.0, backoff_max=0.5) as io:
        started = await io.start_trainer("t", TRAIN)
        with pytest.raises(IoApiNotFoundError):
            await io.get_status("t", started.job_id)
    assert 2.0 <= sum(time.sleeps) <= 2.5


async def test_a_404_on_an_unknown_job_fails_at_once() -> None:
    """A job this client never created gets no window: 404 is IoApiNotFoundError."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/io/status", reply(404, {"message": "Job not found"}))
    async with make_client(api, time) as io:
        with pytest.raises(IoApiNotFoundError, match="Job not found"):
            await io.get_status("t", "someone-elses-job")
    assert time.sleeps == []
