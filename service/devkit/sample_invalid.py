"""Deliberately broken sales-updated events, one kind each, so the DLQ path has work to show.

Every kind fails exactly one check of the service: JSON decoding, UTF-8 decoding, or the
``SalesUpdated`` model (``schemas/events.py``). Their transactions have ids of their own
(``<dataset>-bad<n>-<k>``) that never occur in valid events, so the accounting of accepted
transactions stays exact.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import cast

from service.devkit.sample_model import Dataset, SampleEvent
from service.devkit.sample_wire import (
    Envelope,
    Json,
    cloudevent_id,
    compact_json,
    forecast_json,
    source_of,
    wrap,
)

# One over schemas.events.MAX_TRANSACTIONS_PER_EVENT (5 000).
_TOO_MANY = 5_001
_FAR_FUTURE = dt.timedelta(days=3653)  # ten years: far beyond any clock skew tolerance


def _lines(body: Json) -> list[Json]:
    return cast(list[Json], body["transactions"])  # built by _base below


def _drop_tenant(body: Json, end: dt.date) -> None:
    del body["tenantId"]


def _empty(body: Json, end: dt.date) -> None:
    body["transactions"] = []


def _negative(body: Json, end: dt.date) -> None:
    _lines(body)[1]["quantity"] = -3


def _bad_date(body: Json, end: dt.date) -> None:
    # Ten characters, so only the date parser (not the length check) rejects it.
    _lines(body)[0]["departureDate"] = f"{end:%d.%m.%Y}"


def _nan(body: Json, end: dt.date) -> None:
    _lines(body)[0]["quantity"] = float("nan")  # serialised as the non-standard literal NaN


def _far_future(body: Json, end: dt.date) -> None:
    _lines(body)[-1]["departureDate"] = (end + _FAR_FUTURE).isoformat()


def _wrong_type(body: Json, end: dt.date) -> None:
    _lines(body)[0]["quantity"] = "12 pcs"


def _too_many(body: Json, end: dt.date) -> None:
    prefix = _lines(body)[0]["transactionId"]
    day = end.isoformat()
    body["transactions"] = [
        {"transactionId": f"{prefix}-{k}", "departureDate": day, "quantity": 1}
        for k in range(_TOO_MANY)
    ]


def _non_utf8(body: Json, end: dt.date) -> None:
    body["datasetId"] = f"{body['datasetId']}-Ø"  # encoded as Latin-1 below: byte 0xD8


def _unchanged(body: Json, end: dt.date) -> None:
    """Malformed JSON breaks the bytes, not the data (see :func:`invalid_event`)."""


_MUTATIONS: dict[str, Callable[[Json, dt.date], None]] = {
    "malformed-json": _unchanged,
    "missing-tenant-id": _drop_tenant,
    "empty-transactions": _empty,
    "negative-quantity": _negative,
    "bad-date-string": _bad_date,
    "nan-quantity": _nan,
    "far-future-date": _far_future,
    "non-utf8-bytes": _non_utf8,
    "wrong-type": _wrong_type,
    "too-many-transactions": _too_many,
}
INVALID_KINDS: tuple[str, ...] = tuple(_MUTATIONS)


def _base(dataset: Dataset, n: int, end: dt.date) -> Json:
    lines = [
        {
            "transactionId": f"{dataset.dataset_id}-bad{n:03d}-{k}",
            "departureDate": (end - dt.timedelta(days=k)).isoformat(),
            "quantity": k,
        }
        for k in (1, 2, 3)
    ]
    return {
        "tenantId": dataset.tenant_id,
        "datasetId": dataset.dataset_id,
        "transactions": lines,
        "forecast": forecast_json(dataset.forecast),
    }


def _latin1(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("latin-1")


def invalid_event(kind: str, n: int, dataset: Dataset, end: dt.date, mode: Envelope) -> SampleEvent:
    """The ``n``-th invalid event, of ``kind``, about ``dataset``, wrapped in ``mode``."""
    body = _base(dataset, n, end)
    _MUTATIONS[kind](body, end)
    value, headers = wrap(
        body,
        mode=mode,
        event_id=cloudevent_id("invalid", dataset.tenant_id, kind, str(n)),
        source=source_of(dataset.tenant_id),
        subject=dataset.dataset_id,
        encode=_latin1 if kind == "non-utf8-bytes" else compact_json,
    )
    if kind == "malformed-json":
        value = value[: len(value) * 2 // 3]  # a record cut short, as a buggy producer might
    return SampleEvent(
        key=dataset.tenant_id.encode(),
        value=value,
        headers=headers,
        expected_valid=False,
        label=f"invalid:{kind}",
        tenant_id=dataset.tenant_id,
        dataset_id=dataset.dataset_id,
    )
