"""Admission control shared by every IO API request of one client.

Three gates, in this order, for each HTTP attempt:

1. a concurrency cap (a semaphore held for the whole attempt);
2. a client-wide pause set by a 429's ``Retry-After`` (RFC 9110 §10.2.3): once one caller is told
   to wait, *every* caller waits, so the client as a whole slows down instead of each caller
   discovering the limit on its own;
3. a request-rate limit: attempts are spaced at least ``1 / rate`` seconds apart (a GCRA with a
   burst of one), reserved in arrival order.

Clock and sleep are injected so tests can drive time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RequestLimiter:
    """Concurrency cap + shared 429 pause + rate limit; ``None`` switches a gate off."""

    def __init__(
        self,
        *,
        max_concurrency: int | None,
        rate_per_second: float | None,
        clock: Clock,
        sleep: Sleep,
    ) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1 or None")
        if rate_per_second is not None and rate_per_second <= 0:
            raise ValueError("rate_per_second must be > 0 or None")
        self._semaphore = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._interval = 1.0 / rate_per_second if rate_per_second else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next_slot = 0.0
        self._paused_until = 0.0

    @property
    def paused_until(self) -> float:
        """Clock time before which no request is admitted (0 when never paused)."""
        return self._paused_until

    def admits_freely(self) -> bool:
        """True when every gate is off and no pause is on: an attempt may skip :meth:`slot`."""
        return (
            self._semaphore is None and not self._interval and self._clock() >= self._paused_until
        )

    def pause_for(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` from now; a longer pause already set wins."""
        self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Admit one attempt; yields the seconds spent waiting for the pause and rate gates."""
        if self._semaphore is None:
            yield await self._admit()
            return
        async with self._semaphore:
            yield await self._admit()

    async def _admit(self) -> float:
        started = self._clock()
        while True:
            await self._wait_out_pause()
            await self._wait_for_rate_slot()
            # A 429 may have paused the client while we slept for our slot: honour it too.
            if self._clock() >= self._paused_until:
                return self._clock() - started

    async def _wait_out_pause(self) -> None:
        while (remaining := self._paused_until - self._clock()) > 0:
            await self._sleep(remaining)

    async def _wait_for_rate_slot(self) -> None:
        if not self._interval:
            return
        now = self._clock()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self._interval
        if slot > now:
            await self._sleep(slot - now)
