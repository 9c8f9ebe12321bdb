"""Topic payloads: the ``sales-updated`` input and the three output events.

Inbound (:class:`SalesUpdated`) is tolerant of unknown fields and of the documented alternative
spellings, but strict about what would poison a dataset: empty ids, non-finite or negative
quantities, impossible or far-future dates, oversized events. Outbound models are frozen and
forbid extra fields. The JSON Schema of each, and the AsyncAPI document for all topics, are
generated from these models by ``python -m schemas.generate`` (a test fails when stale).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Literal, NotRequired

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    with_config,
)
from typing_extensions import TypedDict  # pydantic needs it for TypedDicts before 3.12

Frequency = Literal["D", "W", "M"]
# IO API: horizon must stay below 1.5 years of steps (io-api-contract.md §6).
MAX_HORIZON: dict[str, int] = {"D": 547, "W": 78, "M": 18}
MAX_TRANSACTIONS_PER_EVENT = 5_000
MAX_QUANTITY = 1e9
EARLIEST_DATE = dt.date(2000, 1, 1)
# An ERP may stamp tomorrow's date across time zones; anything later is a bug upstream.
FUTURE_TOLERANCE = dt.timedelta(days=1)

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
# tenantId travels as an HTTP header to the IO API (and as the Kafka key): printable ASCII,
# no leading or trailing space, or every request for it would fail.
TenantId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[!-~]([ -~]*[!-~])?$")]
NonNegative = Annotated[float, Field(ge=0, le=MAX_QUANTITY, allow_inf_nan=False)]


class _Inbound(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class _Outbound(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# ------------------------------------------------------------------ input: sales-updated v1


class Period(_Inbound):
    """A duration in steps of a granularity, e.g. 2 weeks: ``{value: 2, granularity: "W"}``."""

    value: int = Field(ge=1, le=1000)
    granularity: Frequency


class Supplier(_Inbound):
    supplier_id: Id = Field(alias="supplierId")
    lead_time: Period = Field(alias="leadTime")


class StockItem(_Inbound):
    """Planning snapshot of one stock item; the latest one seen for a dataset wins."""

    current_inventory_level: float = Field(
        alias="currentInventoryLevel", ge=-MAX_QUANTITY, le=MAX_QUANTITY, allow_inf_nan=False
    )
    wanted_service_level: float = Field(alias="wantedServiceLevel", gt=0, lt=1)
    time_to_next_order: Period = Field(
        validation_alias=AliasChoices("timeToNextOrder", "replenishmentInterval"),
        serialization_alias="timeToNextOrder",
    )
    supplier: Supplier


class ForecastSpec(_Inbound):
    """Granularity and horizon of the forecast; a change forces retraining."""

    frequency: Frequency = Field(validation_alias=AliasChoices("frequency", "granularity"))
    horizon: int = Field(ge=1)

    @field_validator("horizon")
    @classmethod
    def _horizon_below_one_and_a_half_years(cls, value: int, info: ValidationInfo) -> int:
        frequency = info.data.get("frequency")
        if frequency and value > MAX_HORIZON[frequency]:
            raise ValueError(f"horizon {value} exceeds {MAX_HORIZON[frequency]} for {frequency}")
        return value


class Transaction(_Inbound):
    """One sales order line: what left the warehouse, when, and at what price."""

    transaction_id: Id = Field(alias="transactionId")
    departure_date: dt.date = Field(alias="departureDate")
    quantity: NonNegative
    unit_price: NonNegative | None = Field(default=None, alias="unitPrice")
    unit_cost: NonNegative | None = Field(default=None, alias="unitCost")

    @field_validator("departure_date", mode="before")
    @classmethod
    def _iso_date_only(cls, value: object) -> object:
        # Only YYYY-MM-DD: pydantic would otherwise accept unix timestamps for dates.
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError("departureDate must be a YYYY-MM-DD string")
        return value

    @field_validator("departure_date")
    @classmethod
    def _plausible_date(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        today = (info.context or {}).get("today") or dt.datetime.now(dt.UTC).date()
        if value < EARLIEST_DATE or value > today + FUTURE_TOLERANCE:
            raise ValueError(f"departureDate {value} outside {EARLIEST_DATE}..{today}")
        return value


class SalesUpdated(_Inbound):
    """``erp.sales-updated.v1``: new sales transactions of one dataset (one product of a tenant).

    Transactions are incremental; the IO API merges them by ``transactionId``.
    """

    tenant_id: TenantId = Field(alias="tenantId")
    dataset_id: Id = Field(alias="datasetId")
    transactions: list[Transaction] = Field(min_length=1, max_length=MAX_TRANSACTIONS_PER_EVENT)
    stock_item: StockItem | None = Field(default=None, alias="stockItem")
    forecast: ForecastSpec | None = None
    retrain: bool = False

    # No check of the quantities' sum is needed: at most 5,000 finite quantities of at most 1e9
    # each add up to at most 5e12, far from overflowing a float.


# ------------------------------------------------------------------ input: the fast path
# What the codec validates plain JSON bytes with (pydantic's JSON parser, no json.loads): the
# same fields, aliases and constraints as SalesUpdated, as plain dicts rather than models, with
# the dates left as text that ``plausible_dates`` checks once per distinct text (format, range,
# calendar) instead of two Python validators per transaction. Whatever fails here is decoded
# again through SalesUpdated, which names the error: both accept exactly the same events
# (tests/unit/test_codec_properties.py compares them).

# The form of a date the fast path accepts (what Transaction takes: YYYY-MM-DD, ASCII digits).
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@with_config(ConfigDict(extra="ignore", populate_by_name=True))
class TransactionFields(TypedDict):
    """:class:`Transaction` as a dict, its date as any text (``plausible_dates`` checks it,
    once per distinct text: cheaper than a pattern per transaction)."""

    transaction_id: Annotated[Id, Field(alias="transactionId")]
    departure_date: Annotated[str, Field(alias="departureDate")]
    quantity: NonNegative
    unit_price: NotRequired[Annotated[NonNegative | None, Field(alias="unitPrice")]]
    unit_cost: NotRequired[Annotated[NonNegative | None, Field(alias="unitCost")]]


@with_config(ConfigDict(extra="ignore", populate_by_name=True))
class SalesUpdatedFields(TypedDict):
    """:class:`SalesUpdated` as a dict of :class:`TransactionFields`. ``specversion`` and
    ``data`` are only read to tell whether the object is a structured CloudEvent after all."""

    tenant_id: Annotated[TenantId, Field(alias="tenantId")]
    dataset_id: Annotated[Id, Field(alias="datasetId")]
    transactions: Annotated[
        list[TransactionFields], Field(min_length=1, max_length=MAX_TRANSACTIONS_PER_EVENT)
    ]
    stock_item: NotRequired[Annotated[StockItem | None, Field(alias="stockItem")]]
    forecast: NotRequired[ForecastSpec | None]
    retrain: NotRequired[bool]
    specversion: NotRequired[object]
    data: NotRequired[object]


# Validate JSON bytes (raises ``ValidationError``); dates still to be checked. The validator
# itself, called without a Python frame around it: TypeAdapter.validate_json adds ~1 µs per call.
sales_updated_fields: Callable[[bytes], SalesUpdatedFields] = TypeAdapter(
    SalesUpdatedFields
).validator.validate_json


_EARLIEST_TEXT = EARLIEST_DATE.isoformat()
# Date texts known to be calendar dates from EARLIEST_DATE to the day after ``today``, for the
# latest ``today`` asked about (at most one per day from 2000 on).
_PLAUSIBLE: dict[dt.date, set[str]] = {}


def plausible_date_texts(today: dt.date) -> set[str]:
    """The date texts known to be plausible for ``today``: a record whose every date is in it
    needs no further check (``known.issuperset(dates)``); for others, :func:`plausible_dates`
    decides and adds what passes."""
    known = _PLAUSIBLE.get(today)
    if known is None:
        _PLAUSIBLE.clear()  # another day: yesterday's latest plausible date no longer bounds
        known = _PLAUSIBLE[today] = set()
    return known


def plausible_dates(dates: set[str], today: dt.date) -> bool:
    """True when every text is YYYY-MM-DD (ASCII digits) and a real date from EARLIEST_DATE to
    tomorrow: what Transaction's two date validators accept. Such texts sort as their dates do
    and are their dates' ``isoformat()``."""
    known = plausible_date_texts(today)
    latest = (today + FUTURE_TOLERANCE).isoformat()
    for text in dates - known:
        if _DATE_TEXT.fullmatch(text) is None or text < _EARLIEST_TEXT or text > latest:
            return False
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            return False
        known.add(text)
    return True


# ------------------------------------------------------------------ outputs


class ValidInterval(_Outbound):
    start_date: str = Field(alias="startDate")
    end_date: str = Field(alias="endDate")


class Suggestion(_Outbound):
    """A suggested quantity and the dates it is valid for (IO's ``validDateInterval``)."""

    quantity: float
    valid_date_interval: ValidInterval = Field(alias="validDateInterval")


class ForecastStep(_Outbound):
    date: str
    predicted_quantity: float = Field(alias="predictedQuantity")
    predicted_season: float = Field(alias="predictedSeason")
    predicted_trend: float = Field(alias="predictedTrend")
    predicted_noise: float = Field(alias="predictedNoise")
    lower_quantity: float = Field(alias="lowerQuantity")
    upper_quantity: float = Field(alias="upperQuantity")


class Source(_Outbound):
    """Input records behind an output: one partition of the input topic and its offsets."""

    partition: int
    offsets: list[int]
    transactions: int = Field(description="distinct transactions uploaded for the dataset")


class PredictionReady(_Outbound):
    """``io.prediction-ready.v1``: forecast and purchase suggestions for one dataset.

    ``source`` names the input records (partition and offsets of ``erp.sales-updated.v1``)
    whose transactions this prediction covers, so every input can be accounted for.
    """

    tenant_id: str = Field(alias="tenantId")
    dataset_id: str = Field(alias="datasetId")
    run_id: str = Field(alias="runId")
    prediction_job_id: str = Field(alias="predictionJobId")
    frequency: Frequency
    horizon: int
    trained: bool = Field(description="whether this run retrained the dataset's model")
    supplier_id: str | None = Field(default=None, alias="supplierId")
    safety_stock_suggestion: Suggestion | None = Field(default=None, alias="safetyStockSuggestion")
    reorder_point_suggestion: Suggestion | None = Field(
        default=None, alias="reorderPointSuggestion"
    )
    replenishment_suggestion: Suggestion | None = Field(
        default=None, alias="replenishmentSuggestion"
    )
    forecast: list[ForecastStep]
    source: Source


class ClassificationReady(_Outbound):
    """``io.classification-ready.v1``: inventory classification of one dataset."""

    tenant_id: str = Field(alias="tenantId")
    dataset_id: str = Field(alias="datasetId")
    classification_job_id: str = Field(alias="classificationJobId")
    abc_driver: str = Field(alias="abcDriver")
    abc_category: str | None = Field(default=None, alias="abcCategory")
    demand_type: str | None = Field(default=None, alias="demandType")
    is_seasonal: bool | None = Field(default=None, alias="isSeasonal")
    seasonalities: list[str] = Field(default_factory=list)
    trend: str | None = None


Stage = Literal[
    "upload", "validation", "training", "prediction", "results", "classification", "timeout"
]


class DatasetFailed(_Outbound):
    """``io.dataset-failed.v1``: a dataset of a run could not be processed at ``stage``."""

    tenant_id: str = Field(alias="tenantId")
    dataset_id: str = Field(alias="datasetId")
    run_id: str = Field(alias="runId")
    stage: Stage
    reason: str
    job_id: str | None = Field(default=None, alias="jobId")
    source: Source


OUTPUT_EVENT_TYPES: dict[type[BaseModel], str] = {
    PredictionReady: "com.visma.io-bridge.prediction-ready.v1",
    ClassificationReady: "com.visma.io-bridge.classification-ready.v1",
    DatasetFailed: "com.visma.io-bridge.dataset-failed.v1",
}
SALES_UPDATED_TYPE = "com.visma.erp.sales-updated.v1"
