"""The admin API under ``/_emulator/`` — observability and run-time knobs.

Protected by the ``x-admin-key`` header when ``admin_key`` is configured, open otherwise;
``POST /_emulator/webhook_sink`` is always open (it stands in for a partner's receiver).

- ``GET /_emulator/config`` / ``PATCH /_emulator/config`` — knobs (secrets masked); PATCH takes
  ``{knob: value}`` and answers the new config.
- ``GET /_emulator/stats`` — calls by operation and status, uploads, jobs started by kind,
  datasets stored per tenant, webhook outcomes.
- ``GET /_emulator/jobs`` — every job (filters: ``tenant``, ``kind``, ``status``).
- ``POST /_emulator/reset`` — startup config, no data, jobs, uploads, counters.
- ``POST``/``GET``/``DELETE /_emulator/webhook_sink`` — record / list / clear callbacks
  (``{"received": [{received_at, headers, body}]}``; ``body`` parsed when it is JSON).
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.errors import ApiError, bad_request
from emulator.http import body, json_body, json_response
from emulator.jobs import Job
from emulator.requests import describe
from emulator.state import Emulator

PREFIX = "/_emulator"


def job_entry(job: Job) -> dict[str, Any]:
    """One job as ``GET /_emulator/jobs`` lists it."""
    return {
        "id": job.id,
        "tenant": job.tenant,
        "kind": job.kind,
        "status": job.status,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "dataset_ids": job.dataset_ids,
        "webhook": None if job.webhook is None else job.webhook.url,
        "webhook_outcome": job.webhook_outcome,
    }


class Admin:
    """Admin routes of one :class:`Emulator`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    def routes(self) -> list[Route]:
        """The ``/_emulator`` routes."""
        return [
            Route(f"{PREFIX}/config", self.config, methods=["GET", "PATCH"]),
            Route(f"{PREFIX}/stats", self.stats, methods=["GET"]),
            Route(f"{PREFIX}/jobs", self.jobs, methods=["GET"]),
            Route(f"{PREFIX}/reset", self.reset, methods=["POST"]),
            Route(f"{PREFIX}/webhook_sink", self.sink, methods=["GET", "POST", "DELETE"]),
        ]

    def _guard(self, request: Request) -> None:
        key = self.emu.config.admin_key
        if key is None:
            return
        given = request.headers.get("x-admin-key", "")
        if not hmac.compare_digest(given.encode(), key.get_secret_value().encode()):
            raise ApiError(401, "unauthorized", "missing or wrong x-admin-key header")

    async def config(self, request: Request) -> Response:
        """Read or change the knobs."""
        self._guard(request)
        if request.method == "PATCH":
            changes = await json_body(request, 1 << 20)
            if not isinstance(changes, dict):
                raise bad_request("body must be an object of knob: value")
            try:
                self.emu.configure(self.emu.config.patched(changes))
            except ValidationError as exc:
                raise bad_request(describe(exc)) from exc
            except ValueError as exc:
                raise bad_request(str(exc)) from exc
        return await json_response(self.emu.config.public())

    async def stats(self, request: Request) -> Response:
        """Counters."""
        self._guard(request)
        return await json_response(self.emu.stats.snapshot(self.emu.engine.store.counts()))

    async def jobs(self, request: Request) -> Response:
        """The job table, oldest first."""
        self._guard(request)
        wanted = {
            k: request.query_params[k]
            for k in ("tenant", "kind", "status")
            if k in request.query_params
        }
        entries = [job_entry(j) for j in self.emu.engine.jobs.values()]
        entries = [e for e in entries if all(e[k] == v for k, v in wanted.items())]
        return await json_response({"jobs": entries})

    async def reset(self, request: Request) -> Response:
        """Back to the startup state."""
        self._guard(request)
        await self.emu.reset()
        return await json_response({"message": "emulator reset"})

    async def sink(self, request: Request) -> Response:
        """Record (POST, open), list (GET) or clear (DELETE) received callbacks."""
        if request.method == "POST":
            raw = await body(request, 1 << 20)
            try:
                content: Any = json.loads(raw)
            except (ValueError, RecursionError):
                content = raw.decode("utf-8", "replace")
            headers = {k: v for k, v in request.headers.items() if k in _KEPT}
            self.emu.sink.append({"received_at": time.time(), "headers": headers, "body": content})
            return await json_response({"message": "received"})
        self._guard(request)
        if request.method == "DELETE":
            self.emu.sink.clear()
        return await json_response({"received": self.emu.sink})


_KEPT = {"x-api-key", "tenantid", "content-type"}
