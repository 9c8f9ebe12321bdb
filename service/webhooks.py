"""The webhook fast path: IO calls back when a job ends; the owner of the job polls it at once.

A callback may reach any replica (they share one Service), but only the owner of the tenant's
input partition runs the job. So the receiver authenticates the callback (constant-time key
compare) and forwards a small wake-up record through Kafka, keyed by tenant, to the wake-up
topic, which is co-partitioned with the input: its partition p is assigned to the owner of input
partition p. Polling stays the fallback, so a lost callback only costs latency.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping

from pydantic import SecretStr

from service.codec import OutboundRecord
from service.metrics import Metrics
from service.ports import Publisher

MAX_BODY_BYTES = 256 * 1024
Answer = tuple[int, str, bytes]


def _answer(status: int, error: str, message: str) -> Answer:
    body = json.dumps({"error": error, "message": message}).encode()
    return status, "application/json", body


class WebhookReceiver:
    """Handles ``POST /webhooks/io``: authenticate, validate, forward, answer 202."""

    def __init__(
        self, api_key: SecretStr, publisher: Publisher, topic: str, metrics: Metrics
    ) -> None:
        self._key = api_key.get_secret_value().encode()
        self._publisher = publisher
        self._topic = topic
        self._metrics = metrics

    async def handle(self, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one callback; headers are lower-cased names."""
        presented = headers.get("x-api-key", "").encode()
        if not hmac.compare_digest(presented, self._key):
            self._metrics.webhooks.labels("unauthorized").inc()
            return _answer(401, "unauthorized", "missing or wrong x-api-key")
        parsed = _parse(headers.get("tenantid", ""), body)
        if isinstance(parsed, str):
            self._metrics.webhooks.labels("invalid").inc()
            return _answer(400, "bad_request", parsed)
        tenant, job_id, status = parsed
        value = json.dumps({"tenantId": tenant, "jobId": job_id, "status": status}).encode()
        await self._publisher.send([OutboundRecord(self._topic, tenant.encode(), value, ())])
        self._metrics.webhooks.labels("accepted").inc()
        return 202, "application/json", b'{"message":"accepted"}'


def _parse(tenant: str, body: bytes) -> tuple[str, str, str] | str:
    """(tenant, job id, status) of a callback, or why it is not one."""
    if not 0 < len(tenant) <= 200:
        return "tenantId header missing"
    if len(body) > MAX_BODY_BYTES:
        return "body too large"
    try:
        data = json.loads(body)
    except ValueError:
        return "body is not JSON"
    job_id = data.get("jobId") if isinstance(data, dict) else None
    if not isinstance(job_id, str) or not 0 < len(job_id) <= 128:
        return "jobId missing"
    status = data.get("status")
    return tenant, job_id, status if isinstance(status, str) else ""


def wake_target(value: bytes | None) -> str | None:
    """The job id a wake-up record names, or None if it is not one."""
    try:
        data = json.loads(value or b"")
    except ValueError:
        return None
    job_id = data.get("jobId") if isinstance(data, dict) else None
    return job_id if isinstance(job_id, str) else None
