"""The job record and, per job kind, the work a job does.

Each ``*_work`` function snapshots its inputs *now* (at job creation) and returns a coroutine
function; awaiting it computes in a worker thread and yields a ``commit`` callable that, run on
the event loop when the job's duration is over, applies the job's effects and outcomes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from emulator.classify import classify
from emulator.config import EmulatorConfig
from emulator.requests import ClassifyRequest, PredictItem, TrainItem, Upload, Webhook
from emulator.store import Dataset, Store, Transactions
from emulator.work import (
    FORCED,
    Outcome,
    Prediction,
    TrainedModel,
    matches,
    predict,
    safely,
    train,
    train_message,
)
from emulator.work import validate as _validate

log = logging.getLogger("emulator.jobs")
JobKind = Literal["validation", "training", "prediction", "classification"]
Commit = Callable[[], None]
Work = Callable[[], Awaitable[Commit]]
_NAMES = {
    "validation": "data upload",
    "training": "training",
    "prediction": "prediction",
    "classification": "inventory classification",
}


@dataclass
class Job:
    """One job of one tenant; ``outcomes`` fill in when it finishes."""

    id: str
    tenant: str
    kind: JobKind
    dataset_ids: list[str]
    webhook: Webhook | None
    created_at: float
    created_mono: float
    status: str = "inProgress"
    message: str = ""
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    results: list[Any] = field(default_factory=list)
    finished_at: float | None = None
    webhook_outcome: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def __post_init__(self) -> None:
        self.message = f"The {_NAMES[self.kind]} job is in progress"

    def crash(self) -> None:
        """Mark every dataset failed after an internal error."""
        for dataset_id in self.dataset_ids:
            self.outcomes[dataset_id] = Outcome("failed", "internal error in the emulator")
        self.results = []

    def finish(self, now: float) -> None:
        """Publish the final status from the outcomes (contract §5)."""
        states = [
            self.outcomes.get(d, Outcome("failed", "not processed")).status
            for d in self.dataset_ids
        ]
        bad = sum(s != "success" for s in states)
        name = _NAMES[self.kind]
        if not bad:
            self.status, self.message = "success", f"The {name} job finished successfully"
        elif "failed" in states:
            self.status = "failed"
            self.message = f"The {name} job finished: {bad} of {len(states)} dataset(s) failed"
        else:
            self.status = "invalid"
            self.message = f"The {name} job finished: {bad} of {len(states)} dataset(s) invalid"
        self.finished_at = now
        self.done.set()

    def status_body(self) -> dict[str, Any]:
        """The ``GET /status`` body (contract §3.3)."""
        running = Outcome("inProgress", "in progress")
        entries = []
        for dataset_id in self.dataset_ids:
            outcome = running if self.finished_at is None else self.outcomes[dataset_id]
            entries.append(
                {"datasetId": dataset_id, "status": outcome.status, "message": outcome.message}
            )
        return {"status": self.status, "message": self.message, "datasetsStatus": entries}


def _store_all(job: Job, store: Store, checked: dict[str, Outcome | Transactions]) -> None:
    for dataset_id, value in checked.items():
        if isinstance(value, Outcome):
            job.outcomes[dataset_id] = value
            continue
        added, replaced = store.put(job.tenant, dataset_id, value)
        job.outcomes[dataset_id] = Outcome(
            "success", f"stored {len(value)} transaction(s): {added} new, {replaced} replaced"
        )


def validation(job: Job, store: Store, upload: Upload, fail: Sequence[str]) -> Work:
    """Validate each dataset; on commit merge the valid ones into the store."""

    async def work() -> Commit:
        checked = await asyncio.to_thread(_validate, upload.datasets, fail)
        return lambda: _store_all(job, store, checked)

    return work


def training(
    job: Job, store: Store, items: list[TrainItem], today: int, cfg: EmulatorConfig
) -> Work:
    """Train each dataset on the data stored now; on commit keep the models."""
    snapshot = {i.dataset_id: store.get(job.tenant, i.dataset_id) for i in items}

    def train_one(item: TrainItem) -> Outcome | TrainedModel:
        if matches(item.dataset_id, cfg.fail_datasets):
            return FORCED
        dataset = snapshot[item.dataset_id]
        return safely(item.dataset_id, lambda: train(dataset, item, today, cfg.min_history_periods))

    async def work() -> Commit:
        done = await asyncio.to_thread(lambda: {i.dataset_id: train_one(i) for i in items})

        def commit() -> None:
            models = store.models.setdefault(job.tenant, {})
            for dataset_id, value in done.items():
                if isinstance(value, TrainedModel):
                    models[dataset_id] = value
                    job.outcomes[dataset_id] = Outcome("success", train_message(value))
                else:
                    job.outcomes[dataset_id] = value

        return commit

    return work


def _predict_one(
    item: PredictItem,
    data: dict[str, Dataset | None],
    models: dict[str, TrainedModel],
    today: int,
    fail: Sequence[str],
) -> Outcome | Prediction:
    key = item.dataset_id
    if matches(key, fail):
        return FORCED
    return safely(key, lambda: predict(key, data[key], models.get(key), item, today))


def _predict_all(
    items: list[PredictItem],
    data: dict[str, Dataset | None],
    models: dict[str, TrainedModel],
    today: int,
    fail: Sequence[str],
) -> tuple[dict[str, Outcome], list[Prediction]]:
    outcomes: dict[str, Outcome] = {}
    results: list[Prediction] = []
    for item in items:
        value = _predict_one(item, data, models, today, fail)
        if isinstance(value, Prediction):
            results.append(value)
            steps = f"{len(value.forecast.quantity)} {value.history.freq} period(s)"
            value = Outcome("success", f"forecast {steps} and PO suggestions")
        outcomes[item.dataset_id] = value
    return outcomes, results


def prediction(
    job: Job, store: Store, items: list[PredictItem], today: int, fail: Sequence[str]
) -> Work:
    """Forecast and plan each dataset with its trained model; results on commit."""
    data = {i.dataset_id: store.get(job.tenant, i.dataset_id) for i in items}
    models = dict(store.models.get(job.tenant, {}))

    async def work() -> Commit:
        outcomes, results = await asyncio.to_thread(_predict_all, items, data, models, today, fail)

        def commit() -> None:
            job.outcomes.update(outcomes)
            job.results = results

        return commit

    return work


def upload_prediction(
    job: Job, store: Store, upload: Upload, today: int, fail: Sequence[str]
) -> Work:
    """Store the upload's valid datasets, then predict with the body's parametersArray."""
    items = upload.predictions or []
    listed = {i.dataset_id for i in items}

    async def work() -> Commit:
        checked = await asyncio.to_thread(_validate, upload.datasets, fail)
        _store_all(job, store, checked)  # data first: the prediction uses it
        rejected = {k: v for k, v in job.outcomes.items() if v.status != "success"}
        todo = [i for i in items if i.dataset_id not in rejected]
        data = {i.dataset_id: store.get(job.tenant, i.dataset_id) for i in todo}
        models = dict(store.models.get(job.tenant, {}))
        outcomes, results = await asyncio.to_thread(_predict_all, todo, data, models, today, fail)
        missing = Outcome("failed", "stored, but parametersArray has no item for this dataset")

        def commit() -> None:
            job.outcomes.update(outcomes)
            for dataset_id in set(upload.datasets) - listed - set(rejected):
                job.outcomes[dataset_id] = missing
            job.results = results

        return commit

    return work


def classification(job: Job, store: Store, request: ClassifyRequest, fail: Sequence[str]) -> Work:
    """Classify the listed datasets on the data stored now; results on commit."""
    data = {d: store.get(job.tenant, d) for d in job.dataset_ids}

    async def work() -> Commit:
        outcomes, results = await asyncio.to_thread(classify, data, request, fail)

        def commit() -> None:
            job.outcomes.update(outcomes)
            job.results = results

        return commit

    return work
