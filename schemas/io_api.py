"""Wire models for every request and response body of the IO API (io-api-contract.md §3-4).

Two families, one rule each (style.md §4):

* **Outbound** (what io-bridge sends) derive from :class:`OutboundModel`: frozen, strict types,
  unknown fields forbidden, snake_case in Python and camelCase on the wire
  (``model.model_dump(mode="json")`` emits the wire form). Where the contract knows two spellings
  they also *accept* both when validated (the emulator may reuse them), but always *emit* the one
  observed against the live stage API (see each field's comment).
* **Inbound** (what the API answers) derive from :class:`InboundModel`: unknown fields are
  ignored, optional fields may be missing, enum-like strings (job status, ABC category, demand
  type) are kept as plain strings so a value the public docs never listed does not crash us.

Secrets stay ``SecretStr`` end to end: the access token, the presigned URL (its query string is
the signature) and the webhook API key.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
)
from pydantic.alias_generators import to_camel

Frequency = Literal["D", "W", "M"]
"""Granularity of a forecast step: day, week, month (contract §4.2; no year value, §7.17)."""

AbcDriver = Literal["revenue", "quantity", "margin"]
"""ABC driver; only ``revenue`` is evidenced, the others are plausible (§7.7)."""

UploadType = Literal["raw_data", "prediction"]
"""``type`` query parameter of ``GET /presigned_url`` (newer reference revision, §3.1)."""


class OutboundModel(BaseModel):
    """Base of request bodies: frozen, strict, no unknown fields, camelCase on the wire."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        strict=True,
        frozen=True,
        extra="forbid",
    )


class InboundModel(BaseModel):
    """Base of response bodies: tolerant (unknown fields ignored), camelCase on the wire."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        frozen=True,
        extra="ignore",
    )


# ---------------------------------------------------------------- outbound: upload (§4.1)


class Webhook(OutboundModel):
    """Callback the API calls when a job ends; the key is echoed back as ``x-api-key``."""

    webhook_url: str
    webhook_api_key: SecretStr

    @field_serializer("webhook_api_key", when_used="json")
    def _reveal_key(self, key: SecretStr) -> str:
        """The wire needs the key itself; ``repr`` and python-mode dumps keep it masked."""
        return key.get_secret_value()


class Transaction(OutboundModel):
    """One sales order line. ``unitPrice``/``unitCost`` are optional but ABC needs them."""

    transaction_id: str = Field(min_length=1)
    departure_date: date
    quantity: float
    unit_price: float | None = None
    unit_cost: float | None = None


class UploadDataset(OutboundModel):
    """The sales history of one product (dataset) of the tenant."""

    dataset_id: str = Field(min_length=1)
    transactions: tuple[Transaction, ...]


# ---------------------------------------------------------------- outbound: jobs (§4.2-4.5)


class TrainerParameters(OutboundModel):
    """One dataset to train.

    Emits ``frequency``: the reference schema and the stage-tested sample client use it; the
    rename to ``granularity`` is only announced (§1.1, §7.2). Accepts either when validated.
    """

    dataset_id: str = Field(min_length=1)
    frequency: Frequency = Field(
        validation_alias=AliasChoices("frequency", "granularity"),
        serialization_alias="frequency",
    )
    horizon: int = Field(ge=1)
    start_date: date | None = None
    end_date: date | None = None


class StartTrainerRequest(OutboundModel):
    """Body of ``POST /start_trainer``.

    Emits the ``{"parametersArray": [...]}`` wrapper that the sample client used against stage,
    not the bare array the docs' snippet renders (§7.16).
    """

    parameters_array: tuple[TrainerParameters, ...] = Field(min_length=1)
    webhook: Webhook | None = None


class Period(OutboundModel):
    """A duration as ``{value, granularity}``: time to next order, lead time (§4.3)."""

    value: int = Field(ge=0)
    granularity: Frequency


class Supplier(OutboundModel):
    """The supplier a purchase order would go to and its lead time."""

    supplier_id: str = Field(min_length=1)
    lead_time: Period


class PredictionParameters(OutboundModel):
    """One dataset to predict and its planner parameters (PRP inputs, §1.5, §4.3).

    The Python name follows the docs' current term (time to next order); the wire name is
    ``replenishmentInterval``, the one the stage-tested sample client sends (2024) — the
    ``timeToNextOrder`` rename is unconfirmed for the live schema (§7.1). Either is accepted when
    validated.
    """

    dataset_id: str = Field(min_length=1)
    current_inventory_level: float
    wanted_service_level: float = Field(gt=0, lt=1)
    time_to_next_order: Period = Field(
        validation_alias=AliasChoices(
            "replenishmentInterval", "timeToNextOrder", "time_to_next_order"
        ),
        serialization_alias="replenishmentInterval",
    )
    supplier: Supplier


class CreatePredictionRequest(OutboundModel):
    """Body of ``POST /create_prediction`` (same ``parametersArray`` wrapper as training)."""

    parameters_array: tuple[PredictionParameters, ...] = Field(min_length=1)
    webhook: Webhook | None = None


class UploadBody(OutboundModel):
    """Body of the presigned PUT: one tenant, at least one dataset (§4.1, §6).

    ``parameters_array`` is only for a ``type=prediction`` upload, whose body schema is not
    public; the best reading (§7.3) is the upload body plus the create-prediction items.
    """

    datasets: tuple[UploadDataset, ...] = Field(min_length=1)
    parameters_array: tuple[PredictionParameters, ...] | None = None
    webhook: Webhook | None = None


class StartClassificationRequest(OutboundModel):
    """Body of ``POST /start_inventory_classification`` (§3.8, §4.5).

    The docs require a date range but its field name is not public (§7.7); we send optional
    top-level ``startDate``/``endDate``, the names used everywhere else in the contract.
    """

    dataset_ids: tuple[str, ...] = Field(min_length=1)
    abc_driver: AbcDriver
    start_date: date | None = None
    end_date: date | None = None
    webhook: Webhook | None = None


# ---------------------------------------------------------------- inbound (§2, §3, §4.4-4.7)


def _none_as_empty(value: Any) -> Any:
    """A list sent as ``null`` is read as empty (tolerant inbound, §7)."""
    return () if value is None else value


def _as_strings(value: Any) -> Any:
    """Season names or lengths may come as numbers; keep them as text."""
    if isinstance(value, list | tuple):
        return tuple(str(item) if isinstance(item, int | float) else item for item in value)
    return _none_as_empty(value)


T = TypeVar("T")
Listed = Annotated[tuple[T, ...], BeforeValidator(_none_as_empty)]
"""An inbound list: a tuple, ``null`` accepted as empty."""


class JobState(StrEnum):
    """Job status values known so far (§5). ``JobStatus.status`` stays a plain ``str``."""

    IN_PROGRESS = "inProgress"
    SUCCESS = "success"
    FAILED = "failed"  # best reading, not documented (§7.4)
    INVALID = "invalid"  # seen on the TimeDetect sample client


TERMINAL_STATES = frozenset({JobState.SUCCESS, JobState.FAILED, JobState.INVALID})


class TokenResponse(BaseModel):
    """OAuth2 token response (snake_case on the wire, RFC 6749 §5.1)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    access_token: SecretStr = Field(min_length=1)
    expires_in: float | None = Field(default=None, ge=0)
    token_type: str = "Bearer"  # noqa: S105 - the OAuth2 token type name, not a secret


class PresignedUrl(InboundModel):
    """``GET /presigned_url`` 200: where to PUT the data and the validation job it starts."""

    url: SecretStr = Field(min_length=1)  # the query string is a signature: never log it
    job_id: str = Field(min_length=1)
    message: str | None = None


class JobStarted(InboundModel):
    """202 of every job start: ``{jobId, message}`` (§4.7)."""

    job_id: str = Field(min_length=1)
    message: str | None = None


class DatasetStatus(InboundModel):
    """One dataset's outcome inside a job; ``message`` may be omitted (§5)."""

    dataset_id: str
    status: str
    message: str | None = None


class JobStatus(InboundModel):
    """``GET /status`` 200. ``status`` is kept verbatim, known or not (compare with JobState)."""

    status: str
    datasets_status: Listed[DatasetStatus] = ()
    message: str | None = None

    @property
    def is_terminal(self) -> bool:
        """True for a known end state; an unknown value is not assumed to be final."""
        return self.status in TERMINAL_STATES


class DateInterval(InboundModel):
    """Validity window of a suggestion (semantics §7.13)."""

    start_date: str | None = None
    end_date: str | None = None


class Suggestion(InboundModel):
    """A suggested quantity (unrounded float) and when it is valid."""

    quantity: float
    valid_date_interval: DateInterval | None = None


class ForecastPoint(InboundModel):
    """One future time step of the horizon (§4.4). Dates are kept as sent (format §7.13)."""

    date: str
    predicted_quantity: float
    predicted_season: float | None = None
    predicted_trend: float | None = None
    predicted_noise: float | None = None
    lower_quantity: float | None = None
    upper_quantity: float | None = None


class HistoricalPoint(InboundModel):
    """History aggregated at the trained granularity."""

    date: str
    quantity: float


class PredictionResult(InboundModel):
    """Forecast and PRP suggestions of one dataset (§4.4)."""

    dataset_id: str
    supplier_id: str | None = None
    safety_stock_suggestion: Suggestion
    reorder_point_suggestion: Suggestion
    replenishment_suggestion: Suggestion
    forecast: Listed[ForecastPoint] = ()
    historical_data: Listed[HistoricalPoint] = ()


class ResultsResponse(InboundModel):
    """``GET /results`` 200; ``message`` is often missing (§3.6)."""

    results: tuple[PredictionResult, ...]
    message: str | None = None


class ClassificationResult(InboundModel):
    """One dataset's classification; every label is kept verbatim (§4.6, §7.8)."""

    dataset_id: str
    abc_category: str
    is_seasonal: bool
    seasonalities: Annotated[tuple[str, ...], BeforeValidator(_as_strings)] = ()
    demand_type: str
    trend: str


class ClassificationResultsResponse(InboundModel):
    """``GET /inventory_classification_results`` 200."""

    results: tuple[ClassificationResult, ...]
    message: str | None = None


class MessageResponse(InboundModel):
    """A bare ``{message}`` answer, e.g. ``DELETE /data/{datasetId}`` (§3.10)."""

    message: str | None = None


class ErrorBody(InboundModel):
    """4xx/5xx body ``{error, message}``; both may be absent (§4.7, §7.11)."""

    error: str | None = None
    message: str | None = None
