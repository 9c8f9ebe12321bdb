"""Inbound request bodies of the IO API, validated with pydantic (contract §4.1–4.5, §7).

Tolerant where the contract is open: ``frequency`` or ``granularity``; ``timeToNextOrder`` or
``replenishmentInterval``; ``supplier`` or the older ``suppliers`` list; the item list as
``parametersArray``, ``parameters`` or a bare array; D/W/M in any case. Strict elsewhere: types
are not coerced (``"4"`` is not a horizon), numbers must be finite, unknown fields are ignored.
Any violation is a 400 with the offending path in the message.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from emulator.analytics.calendar import Freq, parse_day
from emulator.errors import ApiError, bad_request

MAX_HORIZON: dict[Freq, int] = {"D": 547, "W": 78, "M": 18}  # < 1.5 years (contract §6)
Model = TypeVar("Model", bound=BaseModel)


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _date(value: object) -> object:
    if value is None:
        return None
    day = parse_day(value)
    if day is None:
        raise ValueError(f"{value!r:.60} is not a date YYYY-MM-DD")
    return day


Granularity = Annotated[Freq, BeforeValidator(_upper)]
Day = Annotated[int | None, BeforeValidator(_date)]
Id = Annotated[str, Field(min_length=1, max_length=256)]


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, allow_inf_nan=False)
    # Documented alternative spellings (contract §7) → the field's alias; the alias wins.
    renames: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _rename(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.renames:
            data = dict(data)
            for old, new in cls.renames.items():
                if old in data and new not in data:
                    data[new] = data.pop(old)
        return data


class Webhook(_Body):
    """Where to POST the job's final status (contract §4.7)."""

    url: str = Field(alias="webhookUrl", pattern=r"^https?://\S+$", max_length=2048)
    api_key: str = Field(default="", alias="webhookApiKey", max_length=1024)


class Duration(_Body):
    """``{value, granularity}``: a span of days, weeks or months."""

    value: float = Field(ge=0, le=10_000)
    granularity: Granularity


class Supplier(_Body):
    """The supplier of a stock item and its lead time."""

    supplier_id: str | None = Field(default=None, alias="supplierId", max_length=256)
    lead_time: Duration | None = Field(default=None, alias="leadTime")


class TrainItem(_Body):
    """One ``/start_trainer`` item (contract §4.2)."""

    renames: ClassVar[dict[str, str]] = {"granularity": "frequency"}

    dataset_id: Id = Field(alias="datasetId")
    frequency: Granularity
    horizon: int = Field(ge=1)
    start_day: Day = Field(default=None, alias="startDate")
    end_day: Day = Field(default=None, alias="endDate")

    @model_validator(mode="after")
    def _check(self) -> TrainItem:
        limit = MAX_HORIZON[self.frequency]
        if self.horizon > limit:
            raise ValueError(f"horizon {self.horizon} exceeds 1.5 years ({limit} {self.frequency})")
        first, last = self.start_day, self.end_day
        if first is not None and last is not None and first > last:
            raise ValueError("startDate is after endDate")
        return self


class ForecastPoint(_Body):
    """A (possibly user-edited) forecast step sent to real-time prediction."""

    day: Annotated[int, BeforeValidator(_date)] = Field(alias="date")
    quantity: float = Field(alias="predictedQuantity", ge=0, le=1e15)


class PredictItem(_Body):
    """One ``/create_prediction`` item (contract §4.3); absent planner inputs get defaults."""

    renames: ClassVar[dict[str, str]] = {"replenishmentInterval": "timeToNextOrder"}

    dataset_id: Id = Field(alias="datasetId")
    inventory: float = Field(default=0.0, alias="currentInventoryLevel", ge=-1e15, le=1e15)
    service_level: float = Field(default=0.95, alias="wantedServiceLevel", gt=0, lt=1)
    review: Duration | None = Field(default=None, alias="timeToNextOrder")
    supplier: Supplier | None = None
    suppliers: list[Supplier] | None = None
    lead_time: Duration | None = Field(default=None, alias="leadTime")
    forecast: list[ForecastPoint] | None = Field(default=None, max_length=10_000)

    def the_supplier(self) -> Supplier:
        """``supplier``, else the first of the older ``suppliers`` list, else an empty one."""
        if self.supplier is not None:
            return self.supplier
        return self.suppliers[0] if self.suppliers else Supplier()

    def lead(self) -> Duration | None:
        """The supplier's lead time, else a top-level ``leadTime``."""
        return self.the_supplier().lead_time or self.lead_time


class DateRange(_Body):
    """``{startDate, endDate}``."""

    start_day: Day = Field(default=None, alias="startDate")
    end_day: Day = Field(default=None, alias="endDate")


class ClassifyRequest(_Body):
    """The ``/start_inventory_classification`` body (contract §4.5)."""

    dataset_ids: list[Id] = Field(alias="datasetIds", min_length=1, max_length=100_000)
    driver: Annotated[Literal["revenue", "quantity", "margin"], BeforeValidator(_lower)] = Field(
        alias="abcDriver"
    )
    start_day: Day = Field(default=None, alias="startDate")
    end_day: Day = Field(default=None, alias="endDate")
    date_range: DateRange | None = Field(default=None, alias="dateRange")
    webhook: Webhook | None = None

    def window(self) -> tuple[int | None, int | None]:
        """The chosen date range: top-level dates, else ``dateRange``."""
        if self.date_range is not None and self.start_day is None and self.end_day is None:
            return self.date_range.start_day, self.date_range.end_day
        return self.start_day, self.end_day


def decode(raw: bytes) -> Any:
    """Parse a JSON body; 400 for anything that is not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise bad_request(f"body is not valid JSON: {str(exc)[:120]}", "invalid_json") from exc


def describe(exc: ValidationError, prefix: str = "") -> str:
    """The first few validation errors as ``path: message`` sentences."""
    parts = []
    for err in exc.errors()[:3]:
        path = prefix
        for loc in err["loc"]:
            path += f"[{loc}]" if isinstance(loc, int) else f".{loc}" if path else str(loc)
        parts.append(f"{path or 'body'}: {err['msg']}")
    return "; ".join(parts)


def validate(model: type[Model], value: object, prefix: str = "") -> Model:
    """``model`` validated from ``value``; 400 with the error paths otherwise."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise bad_request(describe(exc, prefix)) from exc


def items(body: object) -> tuple[list[Any], object]:
    """The item list and the webhook of a job-start body (wrapped or a bare array)."""
    if isinstance(body, list):
        return body, None
    if not isinstance(body, dict):
        raise bad_request("body must be an object with parametersArray, or an array")
    listed = body.get("parametersArray", body.get("parameters"))
    if not isinstance(listed, list):
        raise bad_request("parametersArray: must be an array of objects")
    return listed, body.get("webhook")


def parse_items(model: type[Model], body: object) -> tuple[list[Model], Webhook | None]:
    """Validated items (non-empty, distinct datasetIds) and webhook of a job-start body."""
    raw, hook = items(body)
    if not raw:
        raise bad_request("parametersArray: must contain at least one item")
    parsed = [validate(model, item, f"parametersArray[{i}]") for i, item in enumerate(raw)]
    counts = Counter(getattr(item, "dataset_id", None) for item in parsed)
    twice = sorted(str(i) for i, n in counts.items() if n > 1)
    if twice:
        raise bad_request(f"parametersArray: datasetId listed twice: {twice[0]!r:.80}")
    webhook = None if hook is None else validate(Webhook, hook, "webhook")
    return parsed, webhook


def require(condition: bool, message: str) -> None:
    """Raise a 400 with ``message`` unless ``condition``."""
    if not condition:
        raise ApiError(400, "invalid_request", message)


@dataclass(frozen=True)
class Upload:
    """A presigned-PUT body: raw transactions per dataset (validated later, per dataset)."""

    datasets: dict[str, list[Any]]
    webhook: Webhook | None
    predictions: list[PredictItem] | None


def parse_upload(body: object, for_prediction: bool) -> Upload:
    """The envelope of an upload body (contract §4.1); 400 when it cannot be split by dataset.

    A ``type=prediction`` upload also needs ``parametersArray`` (create_prediction items).
    A datasetId listed twice has its transaction arrays concatenated.
    """
    if not isinstance(body, dict):
        raise bad_request("body must be an object with a datasets array")
    listed = body.get("datasets")
    if not isinstance(listed, list) or not listed:
        raise bad_request("datasets: must be a non-empty array")
    datasets: dict[str, list[Any]] = {}
    for i, item in enumerate(listed):
        dataset_id = item.get("datasetId") if isinstance(item, dict) else None
        if not isinstance(dataset_id, str) or not 0 < len(dataset_id) <= 256:
            raise bad_request(f"datasets[{i}].datasetId: must be a string of 1 to 256 characters")
        datasets.setdefault(dataset_id, []).append(item.get("transactions"))
    hook = body.get("webhook")
    webhook = None if hook is None else validate(Webhook, hook, "webhook")
    predictions = parse_items(PredictItem, body)[0] if for_prediction else None
    return Upload(datasets, webhook, predictions)
