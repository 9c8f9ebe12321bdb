"""The access token: cached, refreshed ahead of expiry, one refresh in flight for all callers."""

from __future__ import annotations

import asyncio

import pytest

from service.errors import IoApiUnavailableError
from tests.unit.test_io_api_fakes import (
    FakeTime,
    RecordingObserver,
    ScriptedApi,
    make_client,
    reply,
)


async def test_the_token_is_reused_until_the_refresh_margin() -> None:
    """A 3600 s token with a 60 s margin is reused at 3539 s and replaced at 3541 s."""
    api, time = ScriptedApi(token_lifetime=3600), FakeTime()
    async with make_client(api, time) as io:
        await io.get_status("t", "j")
        time.now += 3539
        await io.get_status("t", "j")
        assert api.tokens_issued == 1
        time.now += 2
        await io.get_status("t", "j")
    assert api.tokens_issued == 2
    assert api.bearer_of(-1) == "Bearer tok-2"


async def test_a_short_lived_token_is_refreshed_at_half_its_life() -> None:
    """When the margin exceeds half the lifetime, the token is refreshed at half-life instead."""
    api, time = ScriptedApi(token_lifetime=10), FakeTime()
    async with make_client(api, time, token_refresh_margin=60) as io:
        await io.get_status("t", "j")
        time.now += 4.9
        await io.get_status("t", "j")
        assert api.tokens_issued == 1
        time.now += 0.2
        await io.get_status("t", "j")
    assert api.tokens_issued == 2


async def test_concurrent_callers_share_one_token_refresh() -> None:
    """Thirty callers arriving while the token is being fetched cause one token request."""
    api = ScriptedApi()
    api.delays["/connect/token"] = 0.05
    observer = RecordingObserver()
    async with make_client(api, observer=observer) as io:
        await asyncio.gather(*(io.get_status("t", f"j{n}") for n in range(30)))
    assert api.tokens_issued == 1
    assert observer.events.count(("token", True)) == 1


async def test_many_401s_for_the_same_token_cause_one_refresh() -> None:
    """Ten calls rejected with the same stale token trigger a single new token between them."""
    api = ScriptedApi()
    api.script("/io/status", *[reply(401)] * 10)
    async with make_client(api) as io:
        await asyncio.gather(*(io.get_status("t", f"j{n}") for n in range(10)))
    assert api.tokens_issued == 2
    assert {api.bearer_of(i) for i, p in enumerate(api.paths()) if p == "/io/status"} == {
        "Bearer tok-1",
        "Bearer tok-2",
    }


async def test_a_failed_refresh_fails_every_waiter_and_the_next_call_tries_again() -> None:
    """The token endpoint down: all waiting callers get the error; later a new refresh works."""
    api, time = ScriptedApi(), FakeTime()
    api.script("/connect/token", *[reply(503)] * 2)
    observer = RecordingObserver()
    async with make_client(api, time, observer, max_retries=1) as io:
        outcomes = await asyncio.gather(
            *(io.get_status("t", "j") for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(outcome, IoApiUnavailableError) for outcome in outcomes)
        assert api.paths().count("/connect/token") == 2
        await io.get_status("t", "j")
    assert observer.events.count(("token", False)) == 1
    assert observer.events.count(("token", True)) == 1


async def test_a_cancelled_caller_does_not_cancel_the_shared_refresh() -> None:
    """Cancelling the caller that started the refresh leaves the others with a token."""
    api = ScriptedApi()
    api.delays["/connect/token"] = 0.05
    async with make_client(api) as io:
        first = asyncio.ensure_future(io.get_status("t", "a"))
        second = asyncio.ensure_future(io.get_status("t", "b"))
        await asyncio.sleep(0.01)
        first.cancel()
        status = await second
        with pytest.raises(asyncio.CancelledError):
            await first
    assert status.status == "inProgress"
    assert api.tokens_issued == 1
