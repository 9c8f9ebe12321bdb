"""Job-end callbacks (contract §4.7): ``POST webhookUrl`` with ``x-api-key`` and ``tenantId``.

One attempt per job, with the configured timeout; the outcome is recorded on the job and
counted, never raised — a receiver that is down does not change the job.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

log = logging.getLogger("emulator.webhooks")


class WebhookSender:
    """Sends callbacks through one lazily opened ``httpx.AsyncClient``."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def send(
        self, url: str, api_key: str, tenant: str, body: dict[str, Any], limit: float
    ) -> str:
        """POST ``body`` within ``limit`` seconds.

        Returns ``"delivered <code>"``, ``"rejected <code>"`` or ``"failed: <reason>"``.
        """
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport)
        headers = {"x-api-key": api_key, "tenantId": tenant}
        try:
            response = await self._client.post(url, json=body, headers=headers, timeout=limit)
        except httpx.HTTPError as exc:
            log.warning("webhook to %s failed: %r", url, exc)
            return f"failed: {type(exc).__name__}"
        verdict = "delivered" if response.is_success else "rejected"
        return f"{verdict} {response.status_code}"

    async def aclose(self) -> None:
        """Close the client, if one was opened."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
