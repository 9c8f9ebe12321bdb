"""Everything io-bridge does for one owned input partition.

Holds the partition's open batches, offset tracker, dataset registry, runs (one at a time per
tenant, so a tenant's runs complete in order) and finished runs that the committed offset has
not passed yet. Created on assignment from the changelog snapshot; stopped on revocation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import structlog

from service.adapters.state_changelog import (
    ClosedOffsets,
    Outboxed,
    PartitionSnapshot,
    StateChangelog,
    closed_key,
    dataset_key,
    outbox_key,
    run_key,
    tenant_key,
)
from service.codec import OutboundRecord, event_id
from service.domain.batching import Batch, Batcher, BatchLimits, DatasetBatch
from service.domain.model import SalesEvent
from service.domain.offsets import OffsetTracker
from service.domain.policies import ClassificationPolicy, TrainingPolicy
from service.domain.registry import DatasetRecord, Registry, TenantRecord
from service.domain.runs import Failure, Plan, Run, RunKind, RunState, Step
from service.metrics import Metrics
from service.outputs import Topics, dataset_failed
from service.ports import Publisher
from service.runner import RunDriver

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PartitionContext:
    """Collaborators and policies shared by all partitions."""

    limits: BatchLimits
    training: TrainingPolicy
    classification: ClassificationPolicy
    driver: RunDriver
    changelog: StateChangelog
    publisher: Publisher
    topics: Topics
    metrics: Metrics
    clock: Callable[[], float]
    crashed: Callable[[BaseException], None]


class PartitionWorker:
    def __init__(self, partition: int, ctx: PartitionContext) -> None:
        self.partition = partition
        self.ctx = ctx
        self.batcher = Batcher(partition, ctx.limits)
        self.tracker = OffsetTracker()
        self.registry = Registry()
        self.active: dict[str, asyncio.Task[None]] = {}
        self.wakes: dict[str, asyncio.Event] = {}
        self.current: dict[str, Run] = {}  # tenant -> its running run, as last recorded
        self.finished: dict[str, Run] = {}
        self.closed: set[int] = set()  # final without a run record (DLQ, failed before hand-off)
        self.skip: set[int] = set()
        self.outbox: dict[bytes, Outboxed] = {}  # changelog key -> event written before publish

    # ------------------------------------------------------------ life cycle
    def restore(self, snapshot: PartitionSnapshot) -> None:
        """Rebuild from the changelog, then resume every unfinished run."""
        for record in snapshot.datasets:
            self.registry.put(record)
        for tenant in snapshot.tenants:
            self.registry.put_tenant(tenant)
        self.closed = set(snapshot.closed)
        self.skip.update(snapshot.closed)
        self.outbox = dict(snapshot.outbox)
        for run in sorted(snapshot.runs, key=lambda r: r.created_at):
            self.skip.update(run.offsets)  # handed off: a re-consumed copy must not run again
            if run.finished:
                self.finished[run.run_id] = run
            elif run.tenant in self.active:  # cannot happen (one run per tenant); keep both
                log.warning("restore_second_run", tenant=run.tenant, run_id=run.run_id)
            else:
                self._spawn(run, None)

    async def republish(self, snapshot: PartitionSnapshot) -> None:
        """Publish again the events a previous owner wrote to the outbox: it may have died
        before publishing them (same ce_id: a consumer that saw the first copy drops this one).
        Awaited before ``restore`` and before the partition's input is read, so no commit
        passes their inputs first."""
        if snapshot.outbox:
            await self.ctx.publisher.send([o.event for o in snapshot.outbox.values()])
            log.info("outbox_republished", partition=self.partition, events=len(snapshot.outbox))

    async def stop(self) -> None:
        """Cancel every run task (their progress is in the changelog) and wait for them."""
        tasks = list(self.active.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            # A task that died of an error has already reported it to Fatal; shutdown goes on.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.active.clear()

    # ------------------------------------------------------------ input
    def skipped(self, offset: int) -> bool:
        """True (and done) when a handed-off record comes round again after a restart."""
        if offset in self.skip:
            self.skip.discard(offset)
            self.tracker.done([offset])
            return True
        return False

    def add(self, event: SalesEvent, now: float) -> None:
        """Batch ``event``; ``now`` is when its fetch arrived (one clock reading per fetch)."""
        self.batcher.add(event, now)

    def blocked(self) -> bool:
        """A tenant's full batch waits for its running run: stop reading this partition."""
        return any(self.batcher.full(t) for t in self.active)

    def flush_due(self, budget: int) -> int:
        """Turn due batches of idle tenants into runs (at most ``budget``); return how many."""
        started = 0
        for tenant, trigger in self.batcher.due(self.ctx.clock()):
            if started >= budget:
                break
            if tenant in self.active:
                continue
            self._flush(self.batcher.take(tenant), trigger)
            started += 1
        return started

    def _flush(self, batch: Batch, trigger: str) -> None:
        now = self.ctx.clock()
        plans = tuple(
            self._plan(batch.tenant, name, ds, now) for name, ds in batch.datasets.items()
        )
        first = min(batch.offsets)
        run_id = event_id("run", batch.tenant, str(self.partition), str(first))[:20]
        run = Run(
            run_id,
            batch.tenant,
            self.partition,
            RunKind.PREDICTION,
            RunState.UPLOADING,
            plans,
            frozenset(p.dataset for p in plans),
            now,
            now,
        )
        metrics = self.ctx.metrics
        metrics.batches_flushed.labels(trigger).inc()
        metrics.batch_datasets.observe(len(plans))
        metrics.batch_bytes.observe(batch.size)
        self._spawn(run, batch.datasets)

    def _plan(self, tenant: str, name: str, ds: DatasetBatch, now: float) -> Plan:
        record = self.registry.dataset(tenant, name)
        decision = self.ctx.training.decide(record, ds, now)
        stock = ds.stock_item or (record.stock_item if record else None)
        return Plan(
            name,
            decision.frequency,
            decision.horizon,
            decision.train,
            stock,
            tuple(ds.offsets),
            len(ds.txns),
            ds.has_price or bool(record and record.has_price),
        )

    # ------------------------------------------------------------ runs
    def _spawn(
        self, run: Run, data: dict[str, DatasetBatch] | None, *, persist: bool = False
    ) -> None:
        """Start the run's task; the tenant's slot is taken until the task ends."""
        wake = self.wakes.setdefault(run.run_id, asyncio.Event())
        self.ctx.metrics.runs.labels(run.state.value).inc()
        self.ctx.metrics.runs_in_flight.inc()
        self.current[run.tenant] = run
        task = asyncio.create_task(self._drive(run, data, wake, persist))
        task.add_done_callback(self._crashed)
        self.active[run.tenant] = task

    def _crashed(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.ctx.crashed(exc)

    async def _drive(
        self, run: Run, data: dict[str, DatasetBatch] | None, wake: asyncio.Event, persist: bool
    ) -> None:
        final = run
        # Every log line of this task (the run's, the IO client's) names tenant, run, partition.
        context = {"tenant": run.tenant, "run_id": run.run_id, "partition": self.partition}
        try:
            with structlog.contextvars.bound_contextvars(**context):
                if persist:
                    await self.ctx.changelog.write(
                        [self.ctx.changelog.record(self.partition, run_key(run), run)]
                    )
                final = await self.ctx.driver.drive(run, data, self._record, wake)
        finally:
            self.ctx.metrics.runs_in_flight.dec()
            self.wakes.pop(run.run_id, None)
        self.finished[final.run_id] = final
        del self.active[final.tenant]
        self.current.pop(final.tenant, None)
        if final.kind is RunKind.PREDICTION:
            self._maybe_classify(final.tenant)

    def _maybe_classify(self, tenant: str) -> None:
        """Start a classification run at once (no await: the tenant's slot passes straight on)."""
        now = self.ctx.clock()
        datasets = self.registry.priced_datasets(tenant)
        if not datasets or not self.ctx.classification.due(
            self.registry.tenant(tenant), len(datasets), now
        ):
            return
        run_id = event_id("classification", tenant, str(self.partition), repr(now))[:20]
        run = Run(
            run_id,
            tenant,
            self.partition,
            RunKind.CLASSIFICATION,
            RunState.CLASSIFYING,
            tuple(Plan(d) for d in datasets),
            frozenset(datasets),
            now,
            now,
        )
        self._spawn(run, None, persist=True)

    async def _record(self, before: Run, step: Step, outputs: list[OutboundRecord]) -> Run:
        """Publish the step's outputs and failures with the run's changelog records, as one
        unit (one transaction in exactly-once mode), before the run's next API call."""
        run = step.run
        failed = [(f, dataset_failed(self.ctx.topics, run, f)) for f in step.failures]
        events = [*outputs, *(event for _, event in failed)]
        state: list[OutboundRecord] = []
        closed: list[int] = []
        if run.handed_off:
            state += self._changes(before, run)
        elif step.failures:  # final before hand-off: a re-consumed copy must be skipped
            names = {f.dataset for f in step.failures}
            closed = [o for p in run.plans if p.dataset in names for o in p.offsets]
            state.append(self.close(closed))
        if failed and not before.handed_off and not self.ctx.publisher.transactional:
            # The state records end these inputs' life as input (closed, or handed off with the
            # run): were the events sent first and the process died before the state, a
            # re-formed batch would name the inputs again under another ce_id. So the events go
            # to the outbox in the same write, ahead of the state records, and are published
            # after it; a restarted owner publishes the outbox again (docs/RELIABILITY.md §5).
            # Once they are out the outbox records are dropped, so only a crash inside this
            # window, not every later restore, repeats them.
            outbox = self._outboxed(run, failed)
            await self.ctx.publisher.send([*outbox, *state])
            await self.ctx.publisher.send(events)
            await self.ctx.publisher.send(self._sent(outbox))
        elif events or state:
            await self.ctx.publisher.send([*events, *state])
        self.tracker.done(closed)
        if run.handed_off and not before.handed_off:
            self.tracker.done(run.offsets)
        for f in step.failures:
            self.ctx.metrics.datasets_failed.labels(f.stage).inc()
        for event in events:  # counted once acknowledged
            self.ctx.metrics.events_published.labels(self.ctx.topics.event_type(event.topic)).inc()
        self._observe(before, run, step)
        self.current[run.tenant] = run
        return run

    def _outboxed(
        self, run: Run, failed: list[tuple[Failure, OutboundRecord]]
    ) -> list[OutboundRecord]:
        """Outbox records for the failures' events, kept until the events are acknowledged."""
        plans = {p.dataset: p for p in run.plans}
        records = []
        for failure, event in failed:
            plan = plans.get(failure.dataset)
            key = outbox_key(run.tenant, event)
            self.outbox[key] = Outboxed(plan.offsets if plan else (), event)
            records.append(self.ctx.changelog.record(self.partition, key, self.outbox[key]))
        return records

    def _sent(self, outboxed: list[OutboundRecord]) -> list[OutboundRecord]:
        """Tombstones of outbox records whose events are published."""
        for record in outboxed:
            self.outbox.pop(record.key or b"", None)
        return [self.ctx.changelog.record(self.partition, r.key or b"", None) for r in outboxed]

    def close(self, offsets: list[int]) -> OutboundRecord:
        """Remember offsets whose outcome is final without a run; the record to persist it."""
        self.closed.update(offsets)
        value = ClosedOffsets(self.partition, tuple(sorted(self.closed)))
        return self.ctx.changelog.record(self.partition, closed_key(self.partition), value)

    def _changes(self, before: Run, run: Run) -> list[OutboundRecord]:
        """The run's record plus the registry records its transition changes (applied here);
        nothing for a poll that only moved the poll schedule: a restarted owner polls anew."""
        if _poll_only(before, run):
            return []
        now = self.ctx.clock()
        changed: list[DatasetRecord | TenantRecord] = []
        if run.kind is RunKind.PREDICTION and not before.handed_off:
            changed += [self._noted(run.tenant, p) for p in run.plans if p.dataset in run.active]
        for plan in run.plans:
            if plan.dataset in run.trained - before.trained:
                record = self.registry.dataset(run.tenant, plan.dataset) or self._noted(
                    run.tenant, plan
                )
                changed.append(record.trained(plan.frequency, plan.horizon, now))
        if run.kind is RunKind.CLASSIFICATION and run.finished:
            changed.append(TenantRecord(run.tenant, run.created_at, len(run.plans)))
        log_ = self.ctx.changelog
        records = [log_.record(self.partition, run_key(run), run)]
        for item in changed:
            if isinstance(item, DatasetRecord):
                self.registry.put(item)
                records.append(log_.record(self.partition, dataset_key(item), item))
            else:
                self.registry.put_tenant(item)
                records.append(log_.record(self.partition, tenant_key(item), item))
        return records

    def _noted(self, tenant: str, plan: Plan) -> DatasetRecord:
        record = self.registry.dataset(tenant, plan.dataset) or DatasetRecord(tenant, plan.dataset)
        return replace(
            record,
            has_price=record.has_price or plan.has_price,
            stock_item=plan.stock_item or record.stock_item,
        )

    def _observe(self, before: Run, run: Run, step: Step) -> None:
        metrics = self.ctx.metrics
        metrics.progressed()
        if before.state is run.state:
            return
        metrics.runs.labels(before.state.value).dec()
        metrics.run_transitions.labels(run.state.value).inc()
        if not run.finished:
            metrics.runs.labels(run.state.value).inc()
        log.info(
            "run_transition",
            kind=run.kind.value,
            state=run.state.value,
            previous=before.state.value,
            job_id=job.job_id if (job := run.job or before.job) else run.result_job_id,
            datasets=len(run.active),
            failed=len(step.failures),
        )

    # ------------------------------------------------------------ commits
    def compactable(self, committed: int) -> list[OutboundRecord]:
        """Changelog records that forget what the committed offset has passed: tombstones of
        finished runs wholly below it, and the closed offsets still above it."""
        done = [r for r in self.finished.values() if max(r.offsets, default=-1) < committed]
        for run in done:
            del self.finished[run.run_id]
        log_ = self.ctx.changelog
        records = [log_.record(self.partition, run_key(r), None) for r in done]
        gone = [k for k, o in self.outbox.items() if max(o.offsets, default=-1) < committed]
        for key in gone:
            del self.outbox[key]
        records += [log_.record(self.partition, key, None) for key in gone]
        still = {o for o in self.closed if o >= committed}
        if still != self.closed:
            self.closed = still
            value = ClosedOffsets(self.partition, tuple(sorted(still))) if still else None
            records.append(log_.record(self.partition, closed_key(self.partition), value))
        return records

    def wake_job(self, job_id: str) -> bool:
        """Cut the poll wait of the run whose current job is ``job_id``; False if none is."""
        for run in self.current.values():
            if run.job is not None and run.job.job_id == job_id and run.run_id in self.wakes:
                self.wakes[run.run_id].set()
                return True
        return False


def _poll_only(before: Run, run: Run) -> bool:
    """True when ``run`` differs from ``before`` only in its current job's poll schedule."""
    job, was = run.job, before.job
    return (
        before.handed_off
        and job is not None
        and was is not None
        and job.job_id == was.job_id
        and replace(before, job=replace(was, polls=job.polls, next_poll_at=job.next_poll_at))
        == replace(run, updated_at=before.updated_at)
    )
