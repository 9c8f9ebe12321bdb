"""Builds what io-bridge sends: IO request bodies from runs, output events from IO results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from schemas import io_api
from schemas.events import (
    ClassificationReady,
    DatasetFailed,
    ForecastStep,
    PredictionReady,
    Source,
    Suggestion,
    ValidInterval,
)
from service.codec import OutboundRecord, cloudevent
from service.domain.batching import DatasetBatch
from service.domain.model import Period, StockItem
from service.domain.runs import Failure, Plan, Run


class Topics:
    """Output topic names (from Settings)."""

    def __init__(self, prediction: str, classification: str, failed: str) -> None:
        self.prediction, self.classification, self.failed = prediction, classification, failed

    def event_type(self, topic: str) -> str:
        """The ``type`` label of io_bridge_events_published_total for an output topic."""
        return {
            self.prediction: "prediction-ready",
            self.classification: "classification-ready",
            self.failed: "dataset-failed",
        }[topic]


def upload_body(
    datasets: dict[str, DatasetBatch], names: Iterable[str], webhook: io_api.Webhook | None = None
) -> io_api.UploadBody:
    """The presigned PUT body for the named datasets of a batch."""
    return io_api.UploadBody(
        webhook=webhook,
        datasets=tuple(
            io_api.UploadDataset(
                dataset_id=name,
                transactions=tuple(
                    io_api.Transaction(
                        transaction_id=t.id,
                        departure_date=dt.date.fromisoformat(t.date),
                        quantity=t.quantity,
                        unit_price=t.unit_price,
                        unit_cost=t.unit_cost,
                    )
                    for t in datasets[name].txns.values()
                ),
            )
            for name in names
        ),
    )


def trainer_request(
    plans: Iterable[Plan], webhook: io_api.Webhook | None = None
) -> io_api.StartTrainerRequest:
    params = tuple(
        io_api.TrainerParameters(dataset_id=p.dataset, frequency=p.frequency, horizon=p.horizon)  # type: ignore[arg-type]
        for p in plans
    )
    return io_api.StartTrainerRequest(parameters_array=params, webhook=webhook)


def prediction_request(
    plans: Iterable[Plan], service_level: float, webhook: io_api.Webhook | None = None
) -> io_api.CreatePredictionRequest:
    """Planner parameters per dataset; datasets without a stock-item snapshot yet get neutral
    defaults (no stock, the configured service level, one step to the next order and lead time).
    """
    return io_api.CreatePredictionRequest(
        parameters_array=tuple(_prediction_parameters(p, service_level) for p in plans),
        webhook=webhook,
    )


def _prediction_parameters(plan: Plan, service_level: float) -> io_api.PredictionParameters:
    one = Period(1, plan.frequency)
    stock = plan.stock_item or StockItem(0.0, service_level, one, "default", one)
    return io_api.PredictionParameters(
        dataset_id=plan.dataset,
        current_inventory_level=float(stock.inventory),
        wanted_service_level=stock.service_level,
        time_to_next_order=_period(stock.time_to_next_order),
        supplier=io_api.Supplier(supplier_id=stock.supplier_id, lead_time=_period(stock.lead_time)),
    )


def _period(period: Period) -> io_api.Period:
    return io_api.Period(value=period.value, granularity=period.granularity)  # type: ignore[arg-type]


def classification_request(
    datasets: Iterable[str], driver: str, webhook: io_api.Webhook | None = None
) -> io_api.StartClassificationRequest:
    return io_api.StartClassificationRequest(
        dataset_ids=tuple(datasets),
        abc_driver=driver,  # type: ignore[arg-type]
        webhook=webhook,
    )


# ---------------------------------------------------------------- events
def _source(run: Run, plan: Plan | None) -> Source:
    if plan is None:
        return Source(partition=run.partition, offsets=[], transactions=0)
    return Source(
        partition=run.partition, offsets=list(plan.offsets), transactions=plan.transactions
    )


def _suggestion(s: io_api.Suggestion | None) -> Suggestion | None:
    if s is None:
        return None
    interval = s.valid_date_interval or io_api.DateInterval()
    return Suggestion(
        quantity=s.quantity,
        valid_date_interval=ValidInterval(
            start_date=interval.start_date or "", end_date=interval.end_date or ""
        ),
    )


def _step(f: io_api.ForecastPoint) -> ForecastStep:
    q = f.predicted_quantity
    return ForecastStep(
        date=f.date,
        predicted_quantity=q,
        predicted_season=f.predicted_season or 0.0,
        predicted_trend=f.predicted_trend if f.predicted_trend is not None else q,
        predicted_noise=f.predicted_noise or 0.0,
        lower_quantity=f.lower_quantity if f.lower_quantity is not None else q,
        upper_quantity=f.upper_quantity if f.upper_quantity is not None else q,
    )


def prediction_ready(
    topics: Topics, run: Run, plan: Plan, result: io_api.PredictionResult, job_id: str
) -> OutboundRecord:
    payload = PredictionReady(
        tenant_id=run.tenant,
        dataset_id=plan.dataset,
        run_id=run.run_id,
        prediction_job_id=job_id,
        frequency=plan.frequency,  # type: ignore[arg-type]
        horizon=plan.horizon,
        trained=plan.dataset in run.trained,
        supplier_id=result.supplier_id,
        safety_stock_suggestion=_suggestion(result.safety_stock_suggestion),
        reorder_point_suggestion=_suggestion(result.reorder_point_suggestion),
        replenishment_suggestion=_suggestion(result.replenishment_suggestion),
        forecast=[_step(f) for f in result.forecast],
        source=_source(run, plan),
    )
    return cloudevent(
        topics.prediction,
        payload,
        tenant=run.tenant,
        subject=f"{run.tenant}/{plan.dataset}",
        id_parts=(run.tenant, plan.dataset, job_id),
    )


def classification_ready(
    topics: Topics, run: Run, result: io_api.ClassificationResult, job_id: str, driver: str
) -> OutboundRecord:
    payload = ClassificationReady(
        tenant_id=run.tenant,
        dataset_id=result.dataset_id,
        classification_job_id=job_id,
        abc_driver=driver,
        abc_category=result.abc_category,
        demand_type=result.demand_type,
        is_seasonal=result.is_seasonal,
        seasonalities=list(result.seasonalities),
        trend=result.trend,
    )
    return cloudevent(
        topics.classification,
        payload,
        tenant=run.tenant,
        subject=f"{run.tenant}/{result.dataset_id}",
        id_parts=(run.tenant, result.dataset_id, job_id),
    )


def dataset_failed(topics: Topics, run: Run, failure: Failure) -> OutboundRecord:
    plan = next((p for p in run.plans if p.dataset == failure.dataset), None)
    payload = DatasetFailed(
        tenant_id=run.tenant,
        dataset_id=failure.dataset,
        run_id=run.run_id,
        stage=failure.stage,  # type: ignore[arg-type]
        reason=failure.reason[:2000],
        job_id=failure.job_id,
        source=_source(run, plan) if run.offsets else _source(run, None),
    )
    # Identity = what failed and which inputs it covers, not the job: a run re-formed after a
    # restart fails the same inputs in a new validation job and must repeat the same id, while
    # a later failure of the same dataset covers other inputs and must not.
    covered = ",".join(map(str, plan.offsets)) if plan else ""
    parts = (run.tenant, failure.dataset, run.run_id, failure.stage, covered)
    return cloudevent(
        topics.failed,
        payload,
        tenant=run.tenant,
        subject=f"{run.tenant}/{failure.dataset}",
        id_parts=parts,
    )
