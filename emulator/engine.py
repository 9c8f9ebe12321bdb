"""Jobs: the store, the job table, and the background runner (contract §5).

A job is visible as ``inProgress`` from the moment it is created. Its inputs are snapshotted
at creation, its computation runs in a worker thread, and its effects (stored data, trained
models, results) and final statuses are published together once the configured duration
(``job_seconds`` + ``job_seconds_per_dataset`` × datasets) has passed — so nothing a job
writes is visible before it reports ``success``. A job naming a ``hang_datasets`` match never
finishes. Every lookup is by tenant: another tenant's job is unknown (404).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from emulator import jobs
from emulator.config import EmulatorConfig
from emulator.jobs import Job, JobKind, Work
from emulator.requests import ClassifyRequest, PredictItem, TrainItem, Upload, Webhook
from emulator.stats import Stats
from emulator.store import Store
from emulator.webhooks import WebhookSender
from emulator.work import matches

log = logging.getLogger("emulator.engine")


class Engine:
    """Creates, runs and finds jobs; owns the data store."""

    def __init__(
        self,
        config: Callable[[], EmulatorConfig],
        today: Callable[[], int],
        stats: Stats,
        webhooks: WebhookSender,
    ) -> None:
        self._config = config
        self._today = today
        self._stats = stats
        self._webhooks = webhooks
        self.store = Store()
        self.jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = random.Random(config().seed)

    def new_job_id(self) -> str:
        """A fresh 32-hex job id (seeded: the same seed gives the same sequence)."""
        return f"{self._ids.getrandbits(128):032x}"

    def find(self, tenant: str, job_id: str) -> Job | None:
        """The tenant's job, or None (also for another tenant's job)."""
        job = self.jobs.get(job_id)
        return job if job is not None and job.tenant == tenant else None

    def validation(self, tenant: str, job_id: str, upload: Upload) -> Job:
        """Start the validation job of an upload (contract §3.2)."""
        job = self._create(job_id, tenant, "validation", list(upload.datasets), upload.webhook)
        fail = self._config().fail_datasets
        return self._launch(job, jobs.validation(job, self.store, upload, fail))

    def training(self, tenant: str, items: list[TrainItem], webhook: Webhook | None) -> Job:
        """Start a training job (contract §3.4)."""
        ids = [i.dataset_id for i in items]
        job = self._create(self.new_job_id(), tenant, "training", ids, webhook)
        cfg = self._config()
        work = jobs.training(job, self.store, items, self._today(), cfg)
        return self._launch(job, work)

    def prediction(self, tenant: str, items: list[PredictItem], webhook: Webhook | None) -> Job:
        """Start a prediction job (contract §3.5)."""
        ids = [i.dataset_id for i in items]
        job = self._create(self.new_job_id(), tenant, "prediction", ids, webhook)
        fail = self._config().fail_datasets
        return self._launch(job, jobs.prediction(job, self.store, items, self._today(), fail))

    def upload_prediction(self, tenant: str, job_id: str, upload: Upload) -> Job:
        """Start the prediction job of a ``type=prediction`` upload (contract §7.3)."""
        items = upload.predictions or []
        ids = list(dict.fromkeys([*upload.datasets, *(i.dataset_id for i in items)]))
        job = self._create(job_id, tenant, "prediction", ids, upload.webhook)
        fail = self._config().fail_datasets
        work = jobs.upload_prediction(job, self.store, upload, self._today(), fail)
        return self._launch(job, work)

    def classification(self, tenant: str, request: ClassifyRequest) -> Job:
        """Start an inventory-classification job (contract §3.8)."""
        ids = list(dict.fromkeys(request.dataset_ids))
        job = self._create(self.new_job_id(), tenant, "classification", ids, request.webhook)
        fail = self._config().fail_datasets
        return self._launch(job, jobs.classification(job, self.store, request, fail))

    def _create(
        self, job_id: str, tenant: str, kind: JobKind, ids: list[str], webhook: Webhook | None
    ) -> Job:
        job = Job(job_id, tenant, kind, ids, webhook, time.time(), time.monotonic())
        self.jobs[job_id] = job
        self._stats.jobs_started[kind] += 1
        return job

    def _launch(self, job: Job, work: Work) -> Job:
        task = asyncio.get_running_loop().create_task(self._run(job, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, job: Job, work: Work) -> None:
        cfg = self._config()
        started = time.monotonic()
        if any(matches(d, cfg.hang_datasets) for d in job.dataset_ids):
            await asyncio.Event().wait()  # the hang_datasets knob: never finishes
        try:
            commit = await work()
        except Exception:
            log.exception("job %s crashed", job.id)
            commit = job.crash
        duration = cfg.job_seconds + cfg.job_seconds_per_dataset * len(job.dataset_ids)
        await asyncio.sleep(max(0.0, duration - (time.monotonic() - started)))
        commit()
        job.finish(time.time())
        log.info("job %s %s %s: %s", job.id, job.kind, job.status, job.message)
        if job.webhook is not None:
            await self._notify(job, job.webhook, cfg.webhook_timeout_seconds)

    async def _notify(self, job: Job, hook: Webhook, limit: float) -> None:
        body: dict[str, Any] = {"jobId": job.id, **job.status_body()}
        outcome = await self._webhooks.send(hook.url, hook.api_key, job.tenant, body, limit)
        job.webhook_outcome = outcome
        self._stats.webhooks[outcome.split(" ")[0].rstrip(":")] += 1

    async def cancel_all(self) -> None:
        """Cancel every running job and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def reset(self, seed: int) -> None:
        """Cancel running jobs and forget all jobs and data."""
        await self.cancel_all()
        self.jobs.clear()
        self.store.clear()
        self._ids = random.Random(seed)

    async def aclose(self) -> None:
        """Stop running jobs and close the webhook client."""
        await self.cancel_all()
        await self._webhooks.aclose()
