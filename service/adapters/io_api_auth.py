"""The bearer token of the IO API: OAuth2 client credentials, cached, refreshed ahead of expiry.

Contract (io-api-contract.md §2): tokens live up to 60 minutes; the sample client treats 403 as
"token expired". The provider refreshes ``refresh_margin`` seconds before ``expires_in`` runs
out (at most half the lifetime, so a short-lived token is not refreshed on every call), and
every caller that needs a new token awaits the same single in-flight refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from pydantic import SecretStr

from schemas.io_api import TokenResponse
from service.ports import IoApiObserver

log = structlog.get_logger(__name__)

# RFC 6749 §5.1 makes ``expires_in`` only RECOMMENDED; without it assume a short life.
DEFAULT_LIFETIME_SECONDS = 300.0


class TokenProvider:
    """Hands out a valid access token; ``fetch`` performs the token request (with retries)."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[TokenResponse]],
        *,
        refresh_margin: float,
        clock: Callable[[], float],
        observer: IoApiObserver,
    ) -> None:
        self._fetch = fetch
        self._margin = refresh_margin
        self._clock = clock
        self._observer = observer
        self._token: SecretStr | None = None
        self._refresh_at = 0.0
        self._inflight: asyncio.Task[SecretStr] | None = None

    def __repr__(self) -> str:
        return f"TokenProvider(cached={self._token is not None})"

    async def current(self) -> SecretStr:
        """A token that is not due for refresh; refreshes first when needed."""
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        return await self._refresh()

    async def replace(self, rejected: SecretStr) -> SecretStr:
        """The API refused ``rejected`` (401/403): drop it unless already replaced, then refresh.

        Many callers holding the same rejected token cause one refresh, not one each.
        """
        if self._token is not None and self._token == rejected:
            self._token = None
        return await self.current()

    async def aclose(self) -> None:
        """Cancel a refresh still in flight."""
        task, self._inflight = self._inflight, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _refresh(self) -> SecretStr:
        if self._inflight is None:
            task = asyncio.get_running_loop().create_task(self._fetch_and_store())
            task.add_done_callback(self._forget)
            self._inflight = task
        # shield: a cancelled caller must not cancel the refresh the other callers wait on.
        return await asyncio.shield(self._inflight)

    async def _fetch_and_store(self) -> SecretStr:
        requested_at = self._clock()
        try:
            response = await self._fetch()
        except Exception:
            self._observer.token_refreshed(False)
            raise
        lifetime = DEFAULT_LIFETIME_SECONDS if response.expires_in is None else response.expires_in
        self._token = response.access_token
        self._refresh_at = requested_at + lifetime - min(self._margin, lifetime / 2)
        self._observer.token_refreshed(True)
        log.info("io_api.token_refreshed", expires_in=lifetime)
        return response.access_token

    def _forget(self, task: asyncio.Task[SecretStr]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here so an unawaited failure is not reported as lost
