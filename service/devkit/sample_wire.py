"""The wire spelling of sample data: sales-updated v1 JSON and its three Kafka envelopes.

Envelopes follow the CloudEvents 1.0 Kafka protocol binding: *binary* mode puts the attributes
in ``ce_*`` headers and the data in the body (``content-type: application/json``); *structured*
mode sends the whole event as ``application/cloudevents+json``; *plain* is the bare JSON with no
headers, as an ERP without CloudEvents support would send it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Literal

from service.devkit.sample_model import ForecastSpec, Period, StockItem, Transaction

Envelope = Literal["plain", "structured", "binary"]
ENVELOPES: tuple[Envelope, ...] = ("plain", "structured", "binary")
# Same value as schemas.events.SALES_UPDATED_TYPE (a test keeps them equal); repeated so the
# sample generator needs the standard library only.
SALES_UPDATED_TYPE = "com.visma.erp.sales-updated.v1"
_ID_NAMESPACE = uuid.UUID("5b0f3a4e-6c1d-5f0e-9a7b-2d8c4e1f6a30")

Json = dict[str, object]
Headers = list[tuple[str, bytes]]


def compact_json(value: object) -> bytes:
    """Compact, ASCII-only JSON bytes (non-finite floats come out as ``NaN``/``Infinity``)."""
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def cloudevent_id(*parts: str) -> str:
    """A deterministic CloudEvents id: a UUIDv5 of the parts joined by ``/``."""
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(parts)))


def source_of(tenant_id: str) -> str:
    """The CloudEvents ``source`` of a tenant's ERP."""
    return f"/erp/{tenant_id or 'unknown'}"


def wrap(
    data: object,
    *,
    mode: Envelope,
    event_id: str,
    source: str,
    subject: str = "",
    encode: Callable[[object], bytes] = compact_json,
) -> tuple[bytes, Headers]:
    """Body and headers of one record carrying ``data`` in envelope ``mode``."""
    if mode == "plain":
        return encode(data), []
    attributes = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": SALES_UPDATED_TYPE,
    }
    if subject:
        attributes["subject"] = subject
    if mode == "binary":
        headers = [(f"ce_{name}", value.encode()) for name, value in attributes.items()]
        return encode(data), [*headers, ("content-type", b"application/json")]
    body = {**attributes, "datacontenttype": "application/json", "data": data}
    return encode(body), [("content-type", b"application/cloudevents+json")]


def transaction_json(t: Transaction) -> Json:
    """One transaction in camelCase; prices only when the product has them."""
    line: Json = {
        "transactionId": t.transaction_id,
        "departureDate": t.departure_date.isoformat(),
        "quantity": t.quantity,
    }
    if t.unit_price is not None:
        line["unitPrice"] = t.unit_price
    if t.unit_cost is not None:
        line["unitCost"] = t.unit_cost
    return line


def period_json(p: Period) -> Json:
    """``{value, granularity}``."""
    return {"value": p.value, "granularity": p.granularity}


def stock_item_json(s: StockItem) -> Json:
    """The planning snapshot in camelCase."""
    return {
        "currentInventoryLevel": s.current_inventory_level,
        "wantedServiceLevel": s.wanted_service_level,
        "timeToNextOrder": period_json(s.time_to_next_order),
        "supplier": {"supplierId": s.supplier_id, "leadTime": period_json(s.lead_time)},
    }


def forecast_json(f: ForecastSpec) -> Json:
    """``{frequency, horizon}``."""
    return {"frequency": f.frequency, "horizon": f.horizon}
