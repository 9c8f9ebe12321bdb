"""When to train and when to classify (architecture §3)."""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.batching import DatasetBatch
from service.domain.registry import DatasetRecord, TenantRecord


@dataclass(frozen=True, slots=True)
class TrainingDecision:
    frequency: str
    horizon: int
    train: bool
    reason: str  # "new", "parameters", "stale", "requested" or "current"


@dataclass(frozen=True, slots=True)
class TrainingPolicy:
    """Train when the dataset is new, its frequency/horizon changed, its model is older than
    the retrain interval, or the event asks; otherwise predict with the existing model.

    (IO: "if granularity/horizon change, training must be re-run" — io-api-contract.md §1.2.)
    """

    retrain_interval_seconds: float
    default_frequency: str
    default_horizon: int

    def decide(
        self, record: DatasetRecord | None, batch: DatasetBatch, now: float
    ) -> TrainingDecision:
        frequency, horizon = self._parameters(record, batch)
        if record is None or record.trained_at is None:
            return TrainingDecision(frequency, horizon, True, "new")
        if (record.frequency, record.horizon) != (frequency, horizon):
            return TrainingDecision(frequency, horizon, True, "parameters")
        if now - record.trained_at >= self.retrain_interval_seconds:
            return TrainingDecision(frequency, horizon, True, "stale")
        if batch.retrain:
            return TrainingDecision(frequency, horizon, True, "requested")
        return TrainingDecision(frequency, horizon, False, "current")

    def _parameters(self, record: DatasetRecord | None, batch: DatasetBatch) -> tuple[str, int]:
        if batch.forecast is not None:
            return batch.forecast.frequency, batch.forecast.horizon
        if record is not None and record.frequency and record.horizon:
            return record.frequency, record.horizon
        return self.default_frequency, self.default_horizon


@dataclass(frozen=True, slots=True)
class ClassificationPolicy:
    """Classify a tenant after a prediction run when its last classification is older than
    the interval (0 classifies after every prediction run), or when it has priced datasets the
    last classification did not cover: ABC classes are shares of the tenant's whole assortment,
    so a new product changes them, and a new product should not wait a day for its class."""

    interval_seconds: float

    def due(self, tenant: TenantRecord, priced_datasets: int, now: float) -> bool:
        if tenant.classified_at is None or priced_datasets > tenant.classified_datasets:
            return True
        return now - tenant.classified_at >= self.interval_seconds
