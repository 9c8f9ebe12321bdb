"""A run: one flushed batch moving through the IO job lifecycle, as a pure state machine.

Prediction runs: ``UPLOADING → VALIDATING → [TRAINING] → PREDICTING → FETCHING → DONE``;
classification runs: ``CLASSIFYING → FETCHING → DONE``; either ends ``FAILED`` when no dataset
survives. ``next_action(now)`` says what the I/O side should do; the transition methods take
what happened and return the next run plus the datasets that failed on the way (each becomes a
``dataset-failed`` event). A run is *handed off* once validation is behind it: the IO API then
holds its data, so the run's record in the changelog, not the input, is what resumes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from service.domain.model import StockItem


class RunState(StrEnum):
    UPLOADING = "UPLOADING"
    VALIDATING = "VALIDATING"
    TRAINING = "TRAINING"
    PREDICTING = "PREDICTING"
    CLASSIFYING = "CLASSIFYING"
    FETCHING = "FETCHING"
    DONE = "DONE"
    FAILED = "FAILED"


class RunKind(StrEnum):
    PREDICTION = "prediction"
    CLASSIFICATION = "classification"


class JobKind(StrEnum):
    VALIDATION = "validation"
    TRAINING = "training"
    PREDICTION = "prediction"
    CLASSIFICATION = "classification"


JOB_OF_STATE = {
    RunState.VALIDATING: JobKind.VALIDATION,
    RunState.TRAINING: JobKind.TRAINING,
    RunState.PREDICTING: JobKind.PREDICTION,
    RunState.CLASSIFYING: JobKind.CLASSIFICATION,
}
# Status values that end a job. Anything else (inProgress, or a value we do not know yet) keeps
# us polling until the job's timeout: io-api-contract.md §5 leaves the enum open.
TERMINAL = frozenset({"success", "failed", "invalid", "error", "cancelled", "canceled"})
FINISHED = frozenset({RunState.DONE, RunState.FAILED})


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Per-job polling: first interval, doubling, ±20 % jitter, never longer than the cap; a
    timeout per kind."""

    first_seconds: float
    max_seconds: float
    timeouts: Mapping[JobKind, float]
    max_uploads: int = 3

    def interval(self, job_id: str, polls: int) -> float:
        base = min(self.max_seconds, self.first_seconds * 2.0 ** min(polls, 30))
        # Deterministic jitter (pure domain: no random source), spread over jobs and polls.
        digest = hashlib.blake2b(f"{job_id}:{polls}".encode(), digest_size=2).digest()
        spread: float = 0.8 + 0.4 * int.from_bytes(digest) / 0xFFFF
        return min(self.max_seconds, base * spread)  # jitter must not push a wait past the cap


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run does for one dataset."""

    dataset: str
    frequency: str = "W"
    horizon: int = 1
    train: bool = False
    stock_item: StockItem | None = None
    offsets: tuple[int, ...] = ()
    transactions: int = 0
    has_price: bool = False


@dataclass(frozen=True, slots=True)
class Job:
    kind: JobKind
    job_id: str
    started_at: float
    next_poll_at: float
    polls: int = 0


@dataclass(frozen=True, slots=True)
class Failure:
    dataset: str
    stage: str
    reason: str
    job_id: str | None = None


# ---------------------------------------------------------------- actions
@dataclass(frozen=True, slots=True)
class Upload:
    datasets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StartJob:
    kind: JobKind
    plans: tuple[Plan, ...]


@dataclass(frozen=True, slots=True)
class Poll:
    job: Job


@dataclass(frozen=True, slots=True)
class Wait:
    until: float


@dataclass(frozen=True, slots=True)
class Fetch:
    kind: JobKind
    job_id: str
    plans: tuple[Plan, ...]


Action = Upload | StartJob | Poll | Wait | Fetch


@dataclass(frozen=True, slots=True)
class Step:
    """A transition's result: the next run and the datasets that failed in it."""

    run: Run
    failures: tuple[Failure, ...] = ()


@dataclass(frozen=True, slots=True)
class Run:
    run_id: str
    tenant: str
    partition: int
    kind: RunKind
    state: RunState
    plans: tuple[Plan, ...]
    active: frozenset[str]
    created_at: float
    updated_at: float
    job: Job | None = None
    trained: frozenset[str] = field(default_factory=frozenset)
    uploads: int = 1
    result_job_id: str | None = None

    # ------------------------------------------------------------ queries
    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def handed_off(self) -> bool:
        """True once the IO API holds the run's data (validation is behind it)."""
        return self.kind is RunKind.CLASSIFICATION or self.state not in {
            RunState.UPLOADING,
            RunState.VALIDATING,
        }

    @property
    def offsets(self) -> tuple[int, ...]:
        return tuple(o for p in self.plans for o in p.offsets)

    def active_plans(self) -> tuple[Plan, ...]:
        return tuple(p for p in self.plans if p.dataset in self.active)

    def next_action(self, now: float, policy: PollPolicy) -> Action | None:
        """What the I/O side should do next; None once the run is finished."""
        if self.finished:
            return None
        if self.state is RunState.UPLOADING:
            return Upload(tuple(p.dataset for p in self.active_plans()))
        if self.state is RunState.FETCHING:
            return Fetch(self._fetch_kind(), self.result_job_id or "", self.active_plans())
        if self.job is None:
            return StartJob(JOB_OF_STATE[self.state], self._job_plans(JOB_OF_STATE[self.state]))
        deadline = self.job.started_at + policy.timeouts[self.job.kind]
        if now >= min(self.job.next_poll_at, deadline):
            # Past the deadline, poll once more before giving up: the job may have finished
            # while nobody was polling (a restart), and then it is fetched, not timed out.
            return Poll(self.job)
        return Wait(min(self.job.next_poll_at, deadline))

    def _fetch_kind(self) -> JobKind:
        if self.kind is RunKind.CLASSIFICATION:
            return JobKind.CLASSIFICATION
        return JobKind.PREDICTION

    def _job_plans(self, kind: JobKind) -> tuple[Plan, ...]:
        plans = self.active_plans()
        return tuple(p for p in plans if p.train) if kind is JobKind.TRAINING else plans

    # ------------------------------------------------------------ transitions
    def job_started(self, kind: JobKind, job_id: str, now: float, policy: PollPolicy) -> Run:
        """A job was accepted (202, or the presigned upload's PUT for validation)."""
        first = now + policy.interval(job_id, 0)
        state = RunState.VALIDATING if kind is JobKind.VALIDATION else self.state
        job = Job(kind, job_id, now, first)
        return replace(self, state=state, job=job, updated_at=now)

    def job_status(
        self,
        status: str,
        datasets: Mapping[str, tuple[str, str | None]],
        message: str | None,
        now: float,
        policy: PollPolicy,
    ) -> Step:
        """One ``/status`` answer: keep polling, or end the job dataset by dataset."""
        job = self._require_job()
        if status not in TERMINAL and now - job.started_at >= policy.timeouts[job.kind]:
            return self.timed_out(now, policy)
        if status not in TERMINAL:
            polls = job.polls + 1
            nxt = now + policy.interval(job.job_id, polls)
            return Step(
                replace(self, job=replace(job, polls=polls, next_poll_at=nxt), updated_at=now)
            )
        failed: dict[str, str] = {}
        for plan in self._job_plans(job.kind):
            outcome, text = datasets.get(plan.dataset, (status, None))
            if outcome != "success":
                failed[plan.dataset] = text or message or f"{job.kind} job ended {outcome}"
        return self._end_job(failed, job.kind.value, now, policy)

    def timed_out(self, now: float, policy: PollPolicy) -> Step:
        """The current job ran past its kind's timeout: its datasets fail."""
        job = self._require_job()
        limit = policy.timeouts[job.kind]
        reason = f"{job.kind} job {job.job_id} did not finish within {limit:.0f}s"
        failed = {p.dataset: reason for p in self._job_plans(job.kind)}
        return self._end_job(failed, "timeout", now, policy)

    def step_failed(self, reason: str, now: float, policy: PollPolicy) -> Step:
        """The API refused the current step for good (a non-retriable error)."""
        if self.state is RunState.UPLOADING:
            failed = dict.fromkeys(self.active, reason)
            return _finish_if_empty(self._fail(failed, "upload", None, now), now)
        if self.state is RunState.FETCHING:
            return self.fetched(dict.fromkeys(self.active, reason), now)
        kind = JOB_OF_STATE[self.state]
        failed = {p.dataset: reason for p in self._job_plans(kind)}
        return self._end_job(failed, kind.value, now, policy)

    def fetched(self, missing: Mapping[str, str], now: float) -> Step:
        """Results were fetched and published; ``missing`` datasets had none."""
        stage = "classification" if self.kind is RunKind.CLASSIFICATION else "results"
        step = self._fail(dict(missing), stage, self.result_job_id, now)
        final = RunState.DONE if step.run.active else RunState.FAILED
        return Step(replace(step.run, state=final, job=None), step.failures)

    # ------------------------------------------------------------ internals
    def _require_job(self) -> Job:
        if self.job is None:
            raise ValueError(f"run {self.run_id} in {self.state} has no job")
        return self.job

    def _fail(self, failed: Mapping[str, str], stage: str, job_id: str | None, now: float) -> Step:
        failures = tuple(Failure(d, stage, r, job_id) for d, r in sorted(failed.items()))
        active = self.active - set(failed)
        return Step(replace(self, active=frozenset(active), updated_at=now), failures)

    def _end_job(
        self, failed: Mapping[str, str], stage: str, now: float, policy: PollPolicy
    ) -> Step:
        job = self._require_job()
        step = self._fail(failed, stage, job.job_id, now)
        run = replace(step.run, job=None)
        # The API may have stored nothing when any dataset was invalid (io-api-contract.md
        # §3.2): upload the valid ones again (uploads merge by transactionId, so it is safe).
        reupload = job.kind is JobKind.VALIDATION and failed and run.active
        if reupload and run.uploads < policy.max_uploads:
            run = replace(run, state=RunState.UPLOADING, uploads=run.uploads + 1)
            return Step(run, step.failures)
        if job.kind is JobKind.TRAINING:
            ok = {p.dataset for p in self._job_plans(job.kind)} - set(failed)
            run = replace(run, trained=run.trained | ok)
        return Step(run._advance(job, now), step.failures)

    def _advance(self, ended: Job, now: float) -> Run:
        if not self.active:
            return replace(self, state=RunState.FAILED, updated_at=now)
        if ended.kind is JobKind.VALIDATION:
            train = any(p.train for p in self.active_plans())
            return replace(self, state=RunState.TRAINING if train else RunState.PREDICTING)
        if ended.kind is JobKind.TRAINING:
            return replace(self, state=RunState.PREDICTING)
        return replace(self, state=RunState.FETCHING, result_job_id=ended.job_id)


def _finish_if_empty(step: Step, now: float) -> Step:
    run = step.run
    if run.active:
        return step
    return Step(replace(run, state=RunState.FAILED, updated_at=now), step.failures)
