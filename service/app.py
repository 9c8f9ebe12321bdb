"""The running service: consume, flush and commit loops under one TaskGroup, plus rebalances.

Never blocks the consume loop on the IO API (kafka-pitfalls.md: a consumer that does not
call getmany within max.poll.interval.ms leaves the group): runs are separate tasks. Memory is
bounded: past the pending-bytes or runs-in-flight limit, partitions are paused, not buffered.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from service.adapters.kafka_in import KafkaInput
from service.adapters.state_changelog import StateChangelog
from service.codec import (
    InboundRecord,
    OutboundRecord,
    Rejection,
    dead_letter,
    decode_sales_updated,
)
from service.metrics import Metrics
from service.partition import PartitionContext, PartitionWorker
from service.ports import Publisher
from service.webhooks import wake_target

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AppLimits:
    max_event_bytes: int
    max_pending_bytes: int
    max_runs_in_flight: int
    dlq_topic: str
    commit_interval_seconds: float = 1.0
    flush_interval_seconds: float = 0.1


class Fatal:
    """Where a run task reports an unexpected error (a bug): the service then stops, so the
    platform restarts it. Nothing is lost: the run's input is uncommitted, or its progress is in
    the changelog."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.raised = asyncio.Event()

    def __call__(self, exc: BaseException) -> None:
        log.error("run_crashed", error=repr(exc), exc_info=exc)
        self.error = self.error or exc
        self.raised.set()


class Health:
    """What the probes read: loop heartbeats and readiness."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.beats: dict[str, float] = {}
        self.ready = False
        self.broker_ok = False
        self.joined = False  # the first assignment (possibly empty) has been received
        self.restoring: set[int] = set()  # assigned partitions not restored yet

    def beat(self, loop: str) -> None:
        self.beats[loop] = self._clock()

    def stale_loops(self, max_age: float) -> list[str]:
        now = self._clock()
        return sorted(name for name, at in self.beats.items() if now - at > max_age)


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


class App:
    def __init__(
        self,
        consumer: KafkaInput,
        publisher: Publisher,
        changelog: StateChangelog,
        ctx: PartitionContext,
        limits: AppLimits,
        metrics: Metrics,
        health: Health,
        fatal: Fatal,
    ) -> None:
        self._fatal = fatal
        self._input = consumer
        self._publisher = publisher
        self._changelog = changelog
        self._ctx = ctx
        self._limits = limits
        self._metrics = metrics
        self._health = health
        self.workers: dict[int, PartitionWorker] = {}
        self._restores: dict[int, asyncio.Task[None]] = {}  # partitions still being restored
        self._committed: dict[tuple[str, int], int] = {}
        self._wake_positions: dict[int, int] = {}
        self._stop = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; then commit what is handed off and leave the group.

        A run task's unexpected error (reported to ``Fatal``) also stops the service, which then
        raises it after the clean shutdown, so the platform restarts the process.
        """
        await self._input.start(self._on_assigned, self._on_revoked)
        self._health.ready = True
        self._health.broker_ok = True
        relays = [asyncio.create_task(_relay(e, self._stop)) for e in (stop, self._fatal.raised)]
        try:
            async with asyncio.TaskGroup() as group:
                loops = [
                    group.create_task(loop(self._stop))
                    for loop in (self._consume, self._flush, self._commit)
                ]
                await self._stop.wait()
                for task in loops:
                    task.cancel()
        finally:
            for relay in relays:
                relay.cancel()
            self._health.ready = False
            await self._shutdown()
        if self._fatal.error is not None:
            raise self._fatal.error

    async def _shutdown(self) -> None:
        await self._cancel_restores(list(self._restores))  # no worker appears from now on
        for worker in list(self.workers.values()):
            await worker.stop()
        await self._publisher.flush()  # in-flight changelog writes land before we leave
        await self._commit_once()
        await self._input.stop()  # leaves the group: partitions move at once

    # ------------------------------------------------------------ loops
    async def _consume(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._health.beat("consume")
            records = await self._input.fetch(timeout_s=0.5)
            if records:
                await self._accept(records)
            self._backpressure()

    async def _accept(self, records: list[InboundRecord]) -> None:
        today = dt.datetime.now(dt.UTC).date()
        now = self._ctx.clock()  # once per fetch: when its records arrived (opens their batches)
        wake_topic, workers = self._input.wake_topic, self.workers  # no await below: stable
        max_bytes = self._limits.max_event_bytes
        dead: list[tuple[PartitionWorker, OutboundRecord, int]] = []
        refetch: dict[int, int] = {}
        consumed = 0
        for record in records:
            if record.topic == wake_topic:
                self._wake(record)
                continue
            worker = workers.get(record.partition)
            if worker is None:
                # aiokafka may hand out records of a partition whose assignment callback (our
                # restore) has not finished: read them again once the worker exists.
                refetch.setdefault(record.partition, record.offset)
                continue
            consumed += 1
            worker.tracker.consumed(record.offset)
            if worker.skip and worker.skipped(record.offset):  # the set is empty but on restore
                continue
            decoded = decode_sales_updated(record, max_bytes=max_bytes, today=today)
            if isinstance(decoded, Rejection):
                self._metrics.events_invalid.labels(decoded.reason).inc()
                letter = dead_letter(
                    record, decoded, self._limits.dlq_topic, dt.datetime.now(dt.UTC)
                )
                dead.append((worker, letter, record.offset))
            else:
                worker.add(decoded, now)
        self._metrics.events_consumed.inc(consumed)
        for partition, offset in refetch.items():
            self._input.seek(partition, offset)
        if dead:
            await self._dead_letter(dead)
        self._metrics.progressed()

    def _wake(self, record: InboundRecord) -> None:
        """A webhook said a job ended: its run polls at once (if the run is ours and waiting)."""
        self._wake_positions[record.partition] = record.offset + 1
        job_id = wake_target(record.value)
        worker = self.workers.get(record.partition)
        if job_id is not None and worker is not None:
            worker.wake_job(job_id)

    async def _dead_letter(self, dead: list[tuple[PartitionWorker, OutboundRecord, int]]) -> None:
        """DLQ records, acknowledged (KIP-298 order) before their offsets can be committed, with
        the partitions' closed-offset records so a re-consumed copy is not dead-lettered twice."""
        closed: dict[PartitionWorker, list[int]] = {}
        for worker, _, offset in dead:
            closed.setdefault(worker, []).append(offset)
        records = [letter for _, letter, _ in dead]
        records += [worker.close(offsets) for worker, offsets in closed.items()]
        await self._publisher.send(records)
        self._metrics.dlq_records.inc(len(dead))
        for worker, offsets in closed.items():
            worker.tracker.done(offsets)

    async def _flush(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._health.beat("flush")
            budget = self._limits.max_runs_in_flight - self._in_flight()
            for worker in list(self.workers.values()):
                if budget <= 0:
                    break
                budget -= worker.flush_due(budget)
            self._metrics.pending_batch_bytes.set(self._pending_bytes())
            await asyncio.sleep(self._limits.flush_interval_seconds)

    async def _commit(self, stop: asyncio.Event) -> None:
        ticks = 0
        while not stop.is_set():
            self._health.beat("commit")
            await asyncio.sleep(self._limits.commit_interval_seconds)
            await self._commit_once()
            self._observe_lag()
            if ticks % 5 == 0:  # readiness: is the broker answering metadata requests?
                self._health.broker_ok = await self._input.reachable()
            ticks += 1

    async def _commit_once(self, partitions: list[int] | None = None) -> None:
        """Commit each owned partition's committable offset (if it moved), then forget in the
        changelog what the commit passed. In exactly-once mode both go in one transaction.
        Wake-up positions are committed alongside (they are hints: losing one costs latency)."""
        owned = self._input.owned()
        mine = [p for p in owned if partitions is None or p in partitions]
        offsets = {
            p: o
            for p in mine
            if p in self.workers
            and (o := self.workers[p].tracker.committable()) is not None
            and o != self._committed.get((self._input.topic, p))
        }
        keyed = {(self._input.topic, p): o for p, o in offsets.items()}
        if (wake := self._input.wake_topic) is not None:
            keyed |= {
                (wake, p): o
                for p, o in self._wake_positions.items()
                if p in mine and o != self._committed.get((wake, p))
            }
        if not keyed:
            return
        if self._publisher.transactional:
            await self._publisher.send(self._compaction(offsets), keyed, self._input.group_id)
        elif await self._input.commit(keyed):
            if records := self._compaction(offsets):
                await self._publisher.send(records)
        else:
            return
        self._committed.update(keyed)

    def _compaction(self, offsets: dict[int, int]) -> list[OutboundRecord]:
        return [r for p, o in offsets.items() for r in self.workers[p].compactable(o)]

    # ------------------------------------------------------------ back-pressure, lag
    def _in_flight(self) -> int:
        return sum(len(w.active) for w in self.workers.values())

    def _pending_bytes(self) -> int:
        return sum(w.batcher.pending_bytes for w in self.workers.values())

    def _backpressure(self) -> None:
        full = self._pending_bytes() >= self._limits.max_pending_bytes
        blocked = {p for p, w in self.workers.items() if full or w.blocked()}
        self._input.pause(blocked)
        self._input.resume(set(self.workers) - blocked)
        self._metrics.partitions_paused.set(len(blocked))

    def _observe_lag(self) -> None:
        for partition, worker in self.workers.items():
            high = self._input.highwater(partition)
            if high is not None and worker.tracker.position >= 0:
                self._metrics.consumer_lag.labels(str(partition)).set(
                    max(0, high - worker.tracker.position)
                )

    # ------------------------------------------------------------ rebalances
    async def _on_assigned(self, partitions: list[int]) -> None:
        """Start restoring each new partition from the changelog, and return at once: aiokafka
        sends no heartbeats while this callback runs, so a long restore here would get the
        member evicted. A new partition stays paused until its worker exists (then the
        back-pressure check resumes it); records fetched before that are read again (``_accept``).
        Partitions restore concurrently: each is its own changelog partition."""
        new = [p for p in partitions if p not in self.workers and p not in self._restores]
        self._input.pause(new)
        self._health.restoring.update(new)
        for partition in new:
            task = asyncio.create_task(self._restore(partition), name=f"restore-{partition}")
            task.add_done_callback(functools.partial(self._restore_ended, partition))
            self._restores[partition] = task
        self._health.joined = True

    async def _restore(self, partition: int) -> None:
        snapshot = await self._changelog.restore(partition)
        worker = PartitionWorker(partition, self._ctx)
        await worker.republish(snapshot)
        worker.restore(snapshot)
        self.workers[partition] = worker
        self._health.restoring.discard(partition)
        self._metrics.partitions_assigned.set(len(self.workers))
        self._metrics.restore_duration.observe(snapshot.seconds)
        log.info(
            "partition_assigned",
            partition=partition,
            records=snapshot.records,
            runs=len(snapshot.runs),
            datasets=len(snapshot.datasets),
            seconds=round(snapshot.seconds, 3),
        )

    def _restore_ended(self, partition: int, task: asyncio.Task[None]) -> None:
        """A restore that failed is a crash like a run's: the service stops (``Fatal``), and
        the partition is not left paused and unready for ever."""
        if self._restores.get(partition) is task:
            del self._restores[partition]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("restore_failed", partition=partition)
            self._fatal(error)

    async def _cancel_restores(self, partitions: list[int]) -> None:
        """Cancel the unfinished restores of ``partitions`` and wait until they have ended."""
        tasks = [task for p in partitions if (task := self._restores.pop(p, None)) is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._health.restoring.difference_update(partitions)

    async def _on_revoked(self, partitions: list[int]) -> None:
        """Stop the partitions' work (restores still running included) and commit what is
        handed off while we still own them."""
        await self._cancel_restores(partitions)
        leaving = [p for p in partitions if p in self.workers]
        for partition in leaving:
            await self.workers[partition].stop()
        # Writes of cancelled run tasks may still be in flight: the next owner restores the
        # changelog as soon as this callback returns, so they must land first.
        await self._publisher.flush()
        await self._commit_once(leaving)
        for partition in leaving:
            del self.workers[partition]
            self._wake_positions.pop(partition, None)
            for topic in (self._input.topic, self._input.wake_topic):
                self._committed.pop((topic or "", partition), None)
            with contextlib.suppress(KeyError):
                self._metrics.consumer_lag.remove(str(partition))
        self._metrics.partitions_assigned.set(len(self.workers))
        if leaving:
            log.info("partitions_revoked", partitions=leaving)
