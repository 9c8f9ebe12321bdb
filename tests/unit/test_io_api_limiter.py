"""Admission control: request rate, concurrency cap and the client-wide 429 pause."""

from __future__ import annotations

import asyncio

import pytest

from service.adapters.io_api_limiter import RequestLimiter
from tests.unit.test_io_api_fakes import (
    FakeTime,
    RecordingObserver,
    ScriptedApi,
    make_client,
    reply,
)


async def test_the_rate_limit_spaces_requests_one_interval_apart() -> None:
    """At 10/s, five back-to-back admissions wait 0, 0.1, 0.1, 0.1, 0.1 s."""
    time = FakeTime()
    limiter = RequestLimiter(
        max_concurrency=None, rate_per_second=10, clock=time.clock, sleep=time.sleep
    )
    waits = []
    for _ in range(5):
        async with limiter.slot() as waited:
            waits.append(waited)
    assert waits == pytest.approx([0, 0.1, 0.1, 0.1, 0.1])


async def test_a_pause_holds_every_admission_until_it_ends() -> None:
    """After ``pause_for(2)`` the next admission waits the remaining two seconds."""
    time = FakeTime()
    limiter = RequestLimiter(
        max_concurrency=None, rate_per_second=None, clock=time.clock, sleep=time.sleep
    )
    limiter.pause_for(2.0)
    limiter.pause_for(0.5)  # a shorter pause never shortens the longer one
    async with limiter.slot() as waited:
        assert waited == pytest.approx(2.0)
    async with limiter.slot() as waited:
        assert waited == 0


def test_nonsense_limits_are_refused() -> None:
    """A zero concurrency or a negative rate is a ValueError."""
    time = FakeTime()
    with pytest.raises(ValueError, match="max_concurrency"):
        RequestLimiter(max_concurrency=0, rate_per_second=None, clock=time.clock, sleep=time.sleep)
    with pytest.raises(ValueError, match="rate_per_second"):
        RequestLimiter(max_concurrency=None, rate_per_second=-1, clock=time.clock, sleep=time.sleep)


async def test_concurrent_calls_respect_the_client_rate_limit() -> None:
    """Eleven concurrent calls at 100/s take at least 0.1 s and report their waits."""
    api, observer = ScriptedApi(), RecordingObserver()
    loop = asyncio.get_running_loop()
    async with make_client(api, observer=observer, rate_limit_per_second=100) as io:
        started = loop.time()
        await asyncio.gather(*(io.get_status("t", f"j{n}") for n in range(11)))
        elapsed = loop.time() - started
    assert elapsed >= 0.095
    status_times = [at for path, at in api.arrivals if path == "/io/status"]
    # Slots are a fixed schedule (first + k/rate); a late wake-up may shrink one gap, not the sum.
    assert all(at - status_times[0] >= k * 0.01 - 0.002 for k, at in enumerate(status_times))
    assert sum(1 for event in observer.events if event[0] == "waited") >= 9


async def test_the_concurrency_cap_bounds_requests_in_flight() -> None:
    """max_concurrency=3: never more than three API requests in flight at once."""
    api = ScriptedApi()
    api.delays["/io/status"] = 0.02
    async with make_client(api, max_concurrency=3) as io:
        await asyncio.gather(*(io.get_status("t", f"j{n}") for n in range(12)))
    assert api.max_in_flight == 3


async def test_a_429_slows_every_caller_not_just_the_one_that_got_it() -> None:
    """One caller's 429 with Retry-After 0.2 holds back the calls other callers start meanwhile."""
    api = ScriptedApi()
    api.script("/io/status", reply(429, **{"Retry-After": "0.2"}))
    loop = asyncio.get_running_loop()
    async with make_client(api) as io:
        await io.get_presigned_url("t")  # the token is cached before the race
        first = asyncio.ensure_future(io.get_status("t", "a"))
        await api.seen["/io/status"].wait()
        told_at = loop.time()
        await asyncio.sleep(0.01)
        others = [io.get_results("t", "r"), io.get_status("t", "b")]
        await asyncio.gather(first, *others)
    later = [at for path, at in api.arrivals if path != "/connect/token"][2:]
    assert len(later) == 3
    assert all(at - told_at >= 0.19 for at in later)
