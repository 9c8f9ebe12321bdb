"""The IO API routes under ``/io`` (contract §3), each behind bearer-token auth.

Order of checks on every route: token (401 missing / 403 invalid or expired), then the
``tenantId`` header (400), then the route's own headers, query and body (400), then lookups
(404 — including another tenant's job or dataset).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator import realtime
from emulator.analytics.calendar import date_of, parse_day
from emulator.auth import authorize, presign
from emulator.errors import ApiError, bad_request, not_found
from emulator.http import header, json_body, json_response
from emulator.jobs import Job
from emulator.render import result_object
from emulator.requests import ClassifyRequest, PredictItem, TrainItem, parse_items, validate
from emulator.state import Emulator, UploadKind, UploadSlot


class IoApi:
    """Handlers of the IO API for one :class:`Emulator`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    def routes(self) -> list[Route]:
        """The ``/io`` routes."""
        return [
            Route("/io/health_check", self.health_check, methods=["GET"]),
            Route("/io/presigned_url", self.presigned_url, methods=["GET"]),
            Route("/io/status", self.status, methods=["GET"]),
            Route("/io/start_trainer", self.start_trainer, methods=["POST"]),
            Route("/io/create_prediction", self.create_prediction, methods=["POST"]),
            Route("/io/results", self.results, methods=["GET"]),
            Route("/io/real_time_prediction", self.real_time_prediction, methods=["POST"]),
            Route(
                "/io/start_inventory_classification", self.start_classification, methods=["POST"]
            ),
            Route(
                "/io/inventory_classification_results", self.classification_results, methods=["GET"]
            ),
            Route("/io/data", self.list_data, methods=["GET"]),
            Route("/io/data/{datasetId:path}", self.delete_data, methods=["DELETE"]),
        ]

    def _tenant(self, request: Request) -> str:
        authorize(self.emu.signer, request.headers.get("authorization"), time.time())
        return header(request, "tenantId")

    async def _items_body(self, request: Request) -> Any:
        return await json_body(request, self.emu.config.max_body_bytes)

    def _job(self, request: Request, tenant: str, kind: str | None = None) -> Job:
        job_id = header(request, "jobId")
        job = self.emu.engine.find(tenant, job_id)
        if job is None:
            raise not_found(f"no job {job_id!r:.80} for this tenant", "job_not_found")
        if kind is not None and job.kind != kind:
            raise bad_request(
                f"job {job.id} is a {job.kind} job, not a {kind} job", "wrong_job_kind"
            )
        return job

    async def health_check(self, request: Request) -> Response:
        """GET /health_check — no auth (contract §3.11)."""
        return await json_response({"status": "healthy", "message": "IO API emulator is up"})

    async def presigned_url(self, request: Request) -> Response:
        """GET /presigned_url — a signed PUT URL and the jobId its upload starts (§3.1)."""
        tenant = self._tenant(request)
        asked = request.query_params.get("type", "raw_data")
        if asked not in ("raw_data", "prediction"):
            raise bad_request(f"type must be raw_data or prediction, got {asked!r:.40}")
        kind: UploadKind = "prediction" if asked == "prediction" else "raw_data"
        upload_id, job_id = secrets.token_hex(16), self.emu.engine.new_job_id()
        expires = int(time.time() + self.emu.config.presign_ttl_seconds)
        self.emu.uploads[upload_id] = UploadSlot(tenant, job_id, kind)
        url = str(request.base_url).rstrip("/") + presign(self.emu.signer, upload_id, expires)
        minutes = self.emu.config.presign_ttl_seconds / 60
        message = f"Presigned URL generated; PUT the data within {minutes:g} minutes"
        return await json_response({"url": url, "jobId": job_id, "message": message})

    async def status(self, request: Request) -> Response:
        """GET /status — the job's status (§3.3); 404 while younger than not_visible_seconds."""
        job = self._job(request, self._tenant(request))
        if time.monotonic() - job.created_mono < self.emu.config.not_visible_seconds:
            raise not_found(f"no job {job.id} for this tenant (yet)", "job_not_found")
        return await json_response(job.status_body())

    async def start_trainer(self, request: Request) -> Response:
        """POST /start_trainer — 202 with a jobId (§3.4)."""
        tenant = self._tenant(request)
        items, webhook = parse_items(TrainItem, await self._items_body(request))
        job = self.emu.engine.training(tenant, items, webhook)
        return await json_response(
            {"jobId": job.id, "message": "Training job started successfully"}, 202
        )

    async def create_prediction(self, request: Request) -> Response:
        """POST /create_prediction — 202 with a jobId (§3.5)."""
        tenant = self._tenant(request)
        items, webhook = parse_items(PredictItem, await self._items_body(request))
        job = self.emu.engine.prediction(tenant, items, webhook)
        message = "Prediction job started successfully"
        return await json_response({"jobId": job.id, "message": message}, 202)

    async def results(self, request: Request) -> Response:
        """GET /results — ResultObjects of a finished prediction job (§3.6)."""
        job = self._finished(request, "prediction")
        results = await asyncio.to_thread(lambda: [result_object(p) for p in job.results])
        body = {"message": job.message, "results": results}
        return await json_response(body, big=len(results) > 20)

    async def start_classification(self, request: Request) -> Response:
        """POST /start_inventory_classification — 202 with a jobId (§3.8)."""
        tenant = self._tenant(request)
        parsed = validate(ClassifyRequest, await self._items_body(request))
        job = self.emu.engine.classification(tenant, parsed)
        message = "Inventory classification job started successfully"
        return await json_response({"jobId": job.id, "message": message}, 202)

    async def classification_results(self, request: Request) -> Response:
        """GET /inventory_classification_results (§3.9)."""
        job = self._finished(request, "classification")
        return await json_response({"message": job.message, "results": job.results})

    def _finished(self, request: Request, kind: str) -> Job:
        job = self._job(request, self._tenant(request), kind)
        if job.finished_at is None:
            raise ApiError(409, "job_in_progress", f"job {job.id} has not finished; poll /status")
        return job

    async def real_time_prediction(self, request: Request) -> Response:
        """POST /real_time_prediction — synchronous PO suggestions (§3.7, best reading)."""
        tenant = self._tenant(request)
        items, _ = parse_items(PredictItem, await self._items_body(request))
        store = self.emu.engine.store
        data = {i.dataset_id: store.get(tenant, i.dataset_id) for i in items}
        models = dict(store.models.get(tenant, {}))
        today = self.emu.today()
        body = await asyncio.to_thread(realtime.answer, data, models, items, today)
        return await json_response(body, big=len(items) > 20)

    async def list_data(self, request: Request) -> Response:
        """GET /data — the tenant's datasets (sister APIs, §3.11); optional datasetId header."""
        tenant = self._tenant(request)
        only = request.headers.get("datasetId")
        stored = self.emu.engine.store.datasets.get(tenant, {})
        entries = [
            {
                "datasetId": dataset_id,
                "transactions": len(d.rows),
                "firstDate": str(date_of(d.first_day)),
                "lastDate": str(date_of(d.last_day)),
                "trained": dataset_id in self.emu.engine.store.models.get(tenant, {}),
            }
            for dataset_id, d in sorted(stored.items())
            if only is None or dataset_id == only
        ]
        return await json_response({"datasets": entries})

    async def delete_data(self, request: Request) -> Response:
        """DELETE /data/{datasetId} — all of it, or ``fromDate``..``toDate`` (§3.10)."""
        tenant = self._tenant(request)
        dataset_id = request.path_params["datasetId"]
        first, last = (self._query_day(request, k) for k in ("fromDate", "toDate"))
        if first is not None and last is not None and first > last:
            raise bad_request("fromDate is after toDate")
        try:
            months = self.emu.engine.store.delete(tenant, dataset_id, first, last)
        except KeyError:
            raise not_found(
                f"no dataset {dataset_id!r:.80} for this tenant", "dataset_not_found"
            ) from None
        scope = "All data" if first is None and last is None else "Data in the requested range"
        message = (
            f"Data was deleted successfully. {scope} for Dataset ID {dataset_id} was deleted "
            f"({months} month(s) of data)."
        )
        return await json_response({"message": message})

    @staticmethod
    def _query_day(request: Request, name: str) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        day = parse_day(raw)
        if day is None:
            raise bad_request(f"{name} must be a date YYYY-MM-DD, got {raw!r:.40}")
        return day
