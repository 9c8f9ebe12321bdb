"""The edge between bytes on Kafka and domain values, both ways.

Input: a sales-updated record as plain JSON, a structured CloudEvent
(``application/cloudevents+json``) or a binary CloudEvent (``ce_*`` headers), validated into a
:class:`~service.domain.model.SalesEvent` or a :class:`Rejection` that names why.
Output: CloudEvents 1.0 in binary mode (``ce_*`` headers, JSON body = the payload) with
deterministic ids, so a replayed publish is recognisable downstream.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import operator
import sys
from dataclasses import dataclass
from typing import NamedTuple

from pydantic import BaseModel, ValidationError

from schemas.events import (
    OUTPUT_EVENT_TYPES,
    SalesUpdated,
    plausible_date_texts,
    plausible_dates,
    sales_updated_fields,
)
from schemas.events import StockItem as WireStockItem
from service.domain.model import ForecastSpec, Period, SalesEvent, StockItem, Txn

CE_SOURCE = "io-bridge"
Headers = tuple[tuple[str, bytes], ...]
# pydantic's JSON parser refuses integer literals of more than 4,300 digits, as Python's int()
# does by default; a lower limit set for this process would make json.loads stricter.
_JSON_INT_DIGITS = 4300
_new = tuple.__new__
_date_of = operator.itemgetter(1)  # Txn.date, without a Python frame


class InboundRecord(NamedTuple):
    """One consumed record, independent of the Kafka client."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int = 0


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an input record is invalid: a metric label and a human message."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    partition: int | None = None


def decode_sales_updated(
    record: InboundRecord, *, max_bytes: int, today: dt.date
) -> SalesEvent | Rejection:
    """Validate one input record; never raises for bad input.

    A valid plain JSON record or binary CloudEvent 1.0 is decoded by the fast path; the others
    (structured CloudEvents, and every bad record) take the full way, which names the error.
    Both accept exactly the same records, as the same events.
    """
    value = record.value
    if value is not None and len(value) <= max_bytes:
        headers = record.headers  # none: plain JSON, the common case, told apart without a call
        plain = _fast_envelope(headers, value) if headers else (b"specversion" not in value or None)
        if plain is not None and not 0 < sys.get_int_max_str_digits() < _JSON_INT_DIGITS:
            event = _decode_fast(record, value, today, plain=plain)
            if event is not None:
                return event
    return _decode_full(record, max_bytes=max_bytes, today=today)


def _decode_full(  # noqa: PLR0911 - one early return per way a record can be bad
    record: InboundRecord, *, max_bytes: int, today: dt.date
) -> SalesEvent | Rejection:
    """``json.loads``, the envelope, then :class:`SalesUpdated`: the reference for the fast path."""
    if record.value is None:
        return Rejection("empty", "record has no value (tombstone)")
    if len(record.value) > max_bytes:
        return Rejection("too_large", f"{len(record.value)} bytes exceeds {max_bytes}")
    try:
        body = json.loads(record.value.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Rejection("not_utf8", f"value is not UTF-8: {exc.reason} at byte {exc.start}")
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, too-long integer literals
        return Rejection("malformed_json", f"value is not JSON: {exc}")
    # Header names are case-insensitive for us; Kafka allows null header values.
    headers = {name.lower(): value or b"" for name, value in record.headers}
    data = _unwrap(body, headers)
    if isinstance(data, Rejection):
        return data
    try:
        event = SalesUpdated.model_validate(data, context={"today": today})
    except ValidationError as exc:
        return Rejection("schema", _summary(exc))
    if record.key is not None and record.key != event.tenant_id.encode():
        return Rejection("key_mismatch", "record key differs from tenantId (key by tenantId)")
    return _to_domain(event, record.offset, len(record.value))


def _fast_envelope(headers: Headers, value: bytes) -> bool | None:
    """Whether the fast path may decode a record with headers: True for plain JSON, False for a
    binary CloudEvent 1.0 (its value is the data as is), None for anything else (as
    ``_unwrap``). Python's limit on integer digits is checked by the caller."""
    named = {name.lower(): v for name, v in headers}
    if "ce_specversion" in named:
        return False if named["ce_specversion"] == b"1.0" else None
    if (named.get("content-type") or b"").startswith(b"application/cloudevents+json"):
        return None
    # Most likely a structured CloudEvent without its content type; _decode_fast also checks.
    return b"specversion" not in value or None


def _decode_fast(
    record: InboundRecord, value: bytes, today: dt.date, *, plain: bool
) -> SalesEvent | None:
    """The event when the fast path accepts the record, else None (then the full way decides:
    both accept the same records, and only the full way names errors)."""
    try:
        value.decode("utf-8")  # strict, as json.loads's input (pydantic's parser agrees today)
        wire = sales_updated_fields(value)
    except (UnicodeDecodeError, ValidationError):
        return None
    if plain and "specversion" in wire and "data" in wire:
        return None  # an escaped "specversion" key: a structured CloudEvent after all
    tenant = wire["tenant_id"]
    key = record.key
    if key is not None and key != tenant.encode():
        return None
    # tuple.__new__ builds the same named tuple without the Python frame of Txn's __new__.
    txns = tuple(
        [
            _new(
                Txn,
                (
                    t["transaction_id"],
                    t["departure_date"],
                    t["quantity"],
                    t.get("unit_price"),
                    t.get("unit_cost"),
                ),
            )
            for t in wire["transactions"]
        ]
    )
    # Each distinct date is checked once per day; after that only looked up, in C.
    if not plausible_date_texts(today).issuperset(map(_date_of, txns)) and not plausible_dates(
        {t[1] for t in txns}, today
    ):
        return None
    stock_item = wire.get("stock_item")
    forecast = wire.get("forecast")
    return _new(
        SalesEvent,
        (
            tenant,
            wire["dataset_id"],
            txns,
            record.offset,
            len(value),
            None if stock_item is None else _stock_item(stock_item),
            None if forecast is None else ForecastSpec(forecast.frequency, forecast.horizon),
            wire.get("retrain", False),
        ),
    )


def _unwrap(body: object, headers: dict[str, bytes]) -> object:
    """The sales-updated data inside whichever envelope carried it."""
    if "ce_specversion" in headers:
        version = headers["ce_specversion"].decode("utf-8", "replace")
        return body if version == "1.0" else _bad_version(version)
    content_type = headers.get("content-type", b"").decode("utf-8", "replace")
    structured = content_type.startswith("application/cloudevents+json")
    if structured or (isinstance(body, dict) and "specversion" in body and "data" in body):
        if not isinstance(body, dict):
            return Rejection("schema", "structured CloudEvent must be a JSON object")
        version = str(body.get("specversion"))
        return body.get("data") if version == "1.0" else _bad_version(version)
    return body


def _bad_version(version: str) -> Rejection:
    return Rejection("unsupported_envelope", f"CloudEvents specversion {version!r} is not 1.0")


def _summary(exc: ValidationError, limit: int = 3) -> str:
    errors = exc.errors(include_input=False, include_url=False)
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors[:limit]
    ]
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more


def _to_domain(event: SalesUpdated, offset: int, size: int) -> SalesEvent:
    txns = tuple(
        Txn(t.transaction_id, t.departure_date.isoformat(), t.quantity, t.unit_price, t.unit_cost)
        for t in event.transactions
    )
    forecast = (
        ForecastSpec(event.forecast.frequency, event.forecast.horizon) if event.forecast else None
    )
    return SalesEvent(
        tenant=event.tenant_id,
        dataset=event.dataset_id,
        transactions=txns,
        offset=offset,
        size=size,
        stock_item=_stock_item(event.stock_item),
        forecast=forecast,
        retrain=event.retrain,
    )


def _stock_item(s: WireStockItem | None) -> StockItem | None:
    if s is None:
        return None
    return StockItem(
        inventory=s.current_inventory_level,
        service_level=s.wanted_service_level,
        time_to_next_order=Period(s.time_to_next_order.value, s.time_to_next_order.granularity),
        supplier_id=s.supplier.supplier_id,
        lead_time=Period(s.supplier.lead_time.value, s.supplier.lead_time.granularity),
    )


# ---------------------------------------------------------------- output
def event_id(*parts: str) -> str:
    """Deterministic CloudEvents id: the same inputs always give the same id."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def cloudevent(
    topic: str, payload: BaseModel, *, tenant: str, subject: str, id_parts: tuple[str, ...]
) -> OutboundRecord:
    """A binary-mode CloudEvent keyed by tenant."""
    ce_type = OUTPUT_EVENT_TYPES[type(payload)]
    headers: Headers = (
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id(ce_type, *id_parts).encode()),
        ("ce_source", CE_SOURCE.encode()),
        ("ce_type", ce_type.encode()),
        ("ce_subject", subject.encode()),
        ("ce_time", dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").encode()),
        ("content-type", b"application/json"),
    )
    body = payload.model_dump_json(by_alias=True).encode()
    return OutboundRecord(topic, tenant.encode(), body, headers)


def _cut(text: str, limit: int) -> bytes:
    """At most ``limit`` bytes of UTF-8, never ending inside a character."""
    return text.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore").encode()


def dead_letter(
    record: InboundRecord, rejection: Rejection, dlq_topic: str, now: dt.datetime
) -> OutboundRecord:
    """The original record plus headers naming the error and where it came from (KIP-298)."""
    context: Headers = (
        ("dlq.error.reason", rejection.reason.encode()),
        ("dlq.error.message", _cut(rejection.message, 2000)),
        ("dlq.source.topic", record.topic.encode()),
        ("dlq.source.partition", str(record.partition).encode()),
        ("dlq.source.offset", str(record.offset).encode()),
        ("dlq.timestamp", now.isoformat(timespec="milliseconds").encode()),
    )
    return OutboundRecord(dlq_topic, record.key, record.value, record.headers + context)
