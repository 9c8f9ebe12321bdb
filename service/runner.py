"""Drives one run through the IO API: asks the run what to do, does it, records what happened.

The run (pure domain) decides; this module performs the I/O and hands each :class:`Step` to
the partition's ``record`` callback, which publishes ``dataset-failed`` events and writes the
changelog *before* the next API call that depends on the transition (architecture §3).
Retriable API errors are retried with backoff until the step has been stuck longer than its
job kind's timeout; a non-retriable error fails the step's datasets.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from schemas import io_api
from service.codec import OutboundRecord
from service.domain.batching import DatasetBatch
from service.domain.runs import (
    Action,
    Fetch,
    JobKind,
    Plan,
    Poll,
    PollPolicy,
    Run,
    RunState,
    StartJob,
    Step,
    Upload,
    Wait,
)
from service.errors import IoApiError
from service.metrics import Metrics
from service.outputs import (
    Topics,
    classification_ready,
    classification_request,
    prediction_ready,
    prediction_request,
    trainer_request,
    upload_body,
)
from service.ports import IoApi

log = structlog.get_logger(__name__)
Clock = Callable[[], float]
Record = Callable[[Run, Step, list[OutboundRecord]], Awaitable[Run]]


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    policy: PollPolicy
    topics: Topics
    service_level: float
    abc_driver: str
    webhook: io_api.Webhook | None = None  # passed with every job request when configured
    retry_first_seconds: float = 1.0
    retry_max_seconds: float = 30.0


class RunDriver:
    """Executes runs; one instance per service, one task per run."""

    def __init__(self, api: IoApi, config: RunnerConfig, metrics: Metrics, clock: Clock) -> None:
        self._api = api
        self._config = config
        self._metrics = metrics
        self._clock = clock

    async def drive(
        self,
        run: Run,
        data: dict[str, DatasetBatch] | None,
        record: Record,
        wake: asyncio.Event,
    ) -> Run:
        """Run until DONE or FAILED; ``wake`` cuts a poll wait short (webhooks)."""
        stuck_since: float | None = None
        attempt = 0
        policy = self._config.policy
        while (action := run.next_action(self._clock(), policy)) is not None:
            if isinstance(action, Wait):
                woken = await _wait(wake, action.until - self._clock())
                if not woken or run.job is None:
                    continue
                action = Poll(run.job)  # a webhook said the job ended: poll it now
            outputs: list[OutboundRecord] = []
            try:
                step = await self._perform(run, action, data, outputs)
            except IoApiError as exc:
                now = self._clock()
                stuck_since = stuck_since or now
                if exc.retriable and now - stuck_since < self._step_timeout(run):
                    attempt += 1
                    await asyncio.sleep(self._retry_delay(attempt))
                    continue
                step = run.step_failed(str(exc), now, policy)
            stuck_since, attempt = None, 0
            run = await record(run, step, outputs)
        return run

    def _step_timeout(self, run: Run) -> float:
        kind = {
            RunState.UPLOADING: JobKind.VALIDATION,
            RunState.FETCHING: JobKind.PREDICTION,
        }.get(run.state) or (run.job.kind if run.job else JobKind.PREDICTION)
        return self._config.policy.timeouts[kind]

    def _retry_delay(self, attempt: int) -> float:
        cap = min(self._config.retry_max_seconds, self._config.retry_first_seconds * 2.0**attempt)
        return random.uniform(cap / 2, cap)

    async def _perform(
        self,
        run: Run,
        action: Action,
        data: dict[str, DatasetBatch] | None,
        outputs: list[OutboundRecord],
    ) -> Step:
        """Do one action; output events it produced go into ``outputs`` (published by the
        partition together with the run's next changelog record)."""
        now = self._clock
        policy = self._config.policy
        if isinstance(action, Upload):
            if data is None:  # cannot happen: un-handed-off runs are never restored
                raise RuntimeError(f"run {run.run_id} must upload but holds no data")
            job_id = await self._upload(run, data, action.datasets)
            return Step(run.job_started(JobKind.VALIDATION, job_id, now(), policy))
        if isinstance(action, StartJob):
            job_id = await self._start(run, action.kind, action.plans)
            return Step(run.job_started(action.kind, job_id, now(), policy))
        if isinstance(action, Poll):
            status = await self._api.get_status(run.tenant, action.job.job_id)
            per_dataset = {d.dataset_id: (d.status, d.message) for d in status.datasets_status}
            step = run.job_status(status.status, per_dataset, status.message, now(), policy)
            self._observe_job(action.job.kind, step, action.job.started_at)
            return step
        if isinstance(action, Fetch):
            return await self._fetch(run, action, outputs)
        raise TypeError(f"unexpected action {action!r}")

    async def _upload(self, run: Run, data: dict[str, DatasetBatch], names: tuple[str, ...]) -> str:
        body = upload_body(data, names, self._config.webhook)
        presigned = await self._api.get_presigned_url(run.tenant)
        await self._api.upload(presigned, body)
        self._metrics.jobs_started.labels(JobKind.VALIDATION.value).inc()
        return presigned.job_id

    async def _start(self, run: Run, kind: JobKind, plans: tuple[Plan, ...]) -> str:
        tenant = run.tenant
        hook = self._config.webhook
        started: io_api.JobStarted
        if kind is JobKind.TRAINING:
            started = await self._api.start_trainer(tenant, trainer_request(plans, hook))
        elif kind is JobKind.PREDICTION:
            request = prediction_request(plans, self._config.service_level, hook)
            started = await self._api.create_prediction(tenant, request)
        else:
            datasets = [p.dataset for p in plans]
            request_c = classification_request(datasets, self._config.abc_driver, hook)
            started = await self._api.start_classification(tenant, request_c)
        self._metrics.jobs_started.labels(kind.value).inc()
        return started.job_id

    async def _fetch(self, run: Run, action: Fetch, records: list[OutboundRecord]) -> Step:
        plans = {p.dataset: p for p in action.plans}
        topics = self._config.topics
        if action.kind is JobKind.CLASSIFICATION:
            got = await self._api.get_classification_results(run.tenant, action.job_id)
            for c in got.results:
                if c.dataset_id in plans:
                    driver = self._config.abc_driver
                    records.append(classification_ready(topics, run, c, action.job_id, driver))
            found = {c.dataset_id for c in got.results}
        else:
            res = await self._api.get_results(run.tenant, action.job_id)
            records += [
                prediction_ready(topics, run, plans[r.dataset_id], r, action.job_id)
                for r in res.results
                if r.dataset_id in plans
            ]
            found = {r.dataset_id for r in res.results}
        missing = dict.fromkeys(plans, f"{action.kind} results have no entry for the dataset")
        return run.fetched({d: r for d, r in missing.items() if d not in found}, self._clock())

    def _observe_job(self, kind: JobKind, step: Step, started_at: float) -> None:
        if step.run.job is not None and step.run.job.kind is kind:
            return  # still running
        timed_out = any(f.stage == "timeout" for f in step.failures)
        outcome = "timeout" if timed_out else "failed" if step.failures else "success"
        self._metrics.jobs_finished.labels(kind.value, outcome).inc()
        self._metrics.job_duration.labels(kind.value).observe(max(0.0, self._clock() - started_at))


async def _wait(wake: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True if ``wake`` was set meanwhile (or before)."""
    if seconds > 0 and not wake.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)
    woken = wake.is_set()
    wake.clear()
    return woken
