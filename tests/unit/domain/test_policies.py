"""Training and classification policies."""

from __future__ import annotations

from service.domain.batching import DatasetBatch
from service.domain.model import ForecastSpec
from service.domain.policies import ClassificationPolicy, TrainingPolicy
from service.domain.registry import DatasetRecord, TenantRecord

POLICY = TrainingPolicy(retrain_interval_seconds=100, default_frequency="W", default_horizon=8)
TRAINED = DatasetRecord("t", "d", frequency="W", horizon=8, trained_at=1_000)


def batch(forecast: ForecastSpec | None = None, retrain: bool = False) -> DatasetBatch:
    ds = DatasetBatch(forecast=forecast)
    ds.retrain = retrain
    return ds


def test_a_new_dataset_trains_with_the_defaults() -> None:
    """No registry record: train, with the default frequency and horizon."""
    decision = POLICY.decide(None, batch(), now=0)
    assert (decision.train, decision.reason, decision.frequency, decision.horizon) == (
        True,
        "new",
        "W",
        8,
    )


def test_a_current_model_with_unchanged_parameters_only_predicts() -> None:
    """Trained recently, same frequency and horizon: no training."""
    decision = POLICY.decide(TRAINED, batch(ForecastSpec("W", 8)), now=1_050)
    assert (decision.train, decision.reason) == (False, "current")


def test_a_changed_horizon_retrains() -> None:
    """A different horizon needs a new model (IO: training parameters are reused)."""
    decision = POLICY.decide(TRAINED, batch(ForecastSpec("W", 12)), now=1_050)
    assert (decision.train, decision.reason, decision.horizon) == (True, "parameters", 12)


def test_a_stale_model_or_an_explicit_request_retrains() -> None:
    """Older than the retrain interval, or retrain=true on the event: train."""
    assert POLICY.decide(TRAINED, batch(), now=1_100).reason == "stale"
    assert POLICY.decide(TRAINED, batch(retrain=True), now=1_050).reason == "requested"


def test_without_a_spec_the_registered_parameters_are_kept() -> None:
    """An event without a forecast spec keeps what the dataset was trained with."""
    record = DatasetRecord("t", "d", frequency="M", horizon=3, trained_at=1_000)
    decision = POLICY.decide(record, batch(), now=1_010)
    assert (decision.frequency, decision.horizon, decision.train) == ("M", 3, False)


def test_classification_is_due_first_time_and_after_the_interval() -> None:
    """Never classified, or classified longer ago than the interval: due."""
    policy = ClassificationPolicy(interval_seconds=60)
    assert policy.due(TenantRecord("t"), priced_datasets=3, now=0)
    assert not policy.due(TenantRecord("t", 100, 3), priced_datasets=3, now=159)
    assert policy.due(TenantRecord("t", 100, 3), priced_datasets=3, now=160)


def test_new_priced_datasets_make_classification_due_before_the_interval() -> None:
    """A dataset the last classification did not cover is classified at the next run."""
    policy = ClassificationPolicy(interval_seconds=3600)
    assert policy.due(TenantRecord("t", 100, 3), priced_datasets=4, now=101)
