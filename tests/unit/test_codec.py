"""Input envelopes and validation; output CloudEvents and DLQ records."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator

import pytest

from schemas.events import DatasetFailed, Source
from service.codec import (
    InboundRecord,
    Rejection,
    _decode_fast,
    _decode_full,
    _fast_envelope,
    cloudevent,
    dead_letter,
    decode_sales_updated,
    event_id,
)
from service.domain.model import SalesEvent, Txn

TODAY = dt.date(2026, 1, 31)
DATA = {
    "tenantId": "t1",
    "datasetId": "d1",
    "transactions": [
        {"transactionId": "x1", "departureDate": "2026-01-30", "quantity": 3, "unitPrice": 9.5}
    ],
    "stockItem": {
        "currentInventoryLevel": 10,
        "wantedServiceLevel": 0.95,
        "replenishmentInterval": {"value": 2, "granularity": "W"},
        "supplier": {"supplierId": "s1", "leadTime": {"value": 1, "granularity": "W"}},
    },
    "forecast": {"granularity": "W", "horizon": 8},
    "someFutureField": True,
}


def decode(
    value: bytes | None, headers: tuple[tuple[str, bytes], ...] = (), key: bytes | None = b"t1"
) -> SalesEvent | Rejection:
    record = InboundRecord("in", 0, 7, key, value, headers)
    return decode_sales_updated(record, max_bytes=10_000, today=TODAY)


def test_plain_json_with_alternative_spellings_decodes() -> None:
    """replenishmentInterval and granularity are accepted; unknown fields are ignored."""
    event = decode(json.dumps(DATA).encode())
    assert isinstance(event, SalesEvent)
    assert event.stock_item is not None
    assert (event.tenant, event.dataset, event.offset) == ("t1", "d1", 7)
    assert event.stock_item.time_to_next_order.value == 2
    assert event.forecast is not None
    assert (event.forecast.frequency, event.forecast.horizon) == ("W", 8)
    assert event.transactions[0].unit_price == 9.5


def test_structured_and_binary_cloudevents_decode_to_the_same_event() -> None:
    """The three accepted envelopes carry the same data."""
    plain = decode(json.dumps(DATA).encode())
    structured = json.dumps(
        {"specversion": "1.0", "id": "1", "source": "erp", "type": "x", "data": DATA}
    )
    s_event = decode(structured.encode(), (("content-type", b"application/cloudevents+json"),))
    b_event = decode(json.dumps(DATA).encode(), (("ce_specversion", b"1.0"), ("ce_id", b"1")))
    assert isinstance(s_event, SalesEvent)
    assert plain == b_event
    assert plain == s_event._replace(size=len(json.dumps(DATA)))


@pytest.mark.parametrize(
    ("value", "headers", "key", "reason"),
    [
        (b"{not json", (), b"t1", "malformed_json"),
        (b"\xff\xfe\x00", (), b"t1", "not_utf8"),
        (None, (), b"t1", "empty"),
        (b"x" * 10_001, (), b"t1", "too_large"),
        (json.dumps({**DATA, "tenantId": ""}).encode(), (), b"t1", "schema"),
        (json.dumps({**DATA, "transactions": []}).encode(), (), b"t1", "schema"),
        (json.dumps(DATA).encode(), (("ce_specversion", b"0.3"),), b"t1", "unsupported_envelope"),
        (json.dumps(DATA).encode(), (), b"other-tenant", "key_mismatch"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(
    value: bytes | None, headers: tuple[tuple[str, bytes], ...], key: bytes, reason: str
) -> None:
    """Each kind of bad record gets its own reason label."""
    result = decode(value, headers, key)
    assert isinstance(result, Rejection)
    assert result.reason == reason


@pytest.mark.parametrize(
    "txn",
    [
        {"transactionId": "x", "departureDate": "2026-01-30", "quantity": -1},
        {"transactionId": "x", "departureDate": "2026-01-30", "quantity": "NaN"},
        {"transactionId": "x", "departureDate": "2026-02-31", "quantity": 1},
        {"transactionId": "x", "departureDate": "2031-01-01", "quantity": 1},
        {"transactionId": "x", "departureDate": 1767225600, "quantity": 1},
        {"transactionId": "", "departureDate": "2026-01-30", "quantity": 1},
        {"transactionId": "x", "departureDate": "2026-01-30", "quantity": 1e12},
    ],
)
def test_poisonous_transactions_are_schema_errors_naming_the_field(txn: dict[str, object]) -> None:
    """Negative, NaN, huge quantities and impossible or future dates never reach a batch."""
    result = decode(json.dumps({**DATA, "transactions": [txn]}).encode())
    assert isinstance(result, Rejection)
    assert result.reason == "schema"
    assert "transactions.0" in result.message


def test_a_nan_literal_is_rejected() -> None:
    """Python's json accepts NaN literals; the model does not."""
    body = json.dumps(DATA).replace('"quantity": 3', '"quantity": NaN').encode()
    assert isinstance(decode(body), Rejection)


def with_field(text: bytes) -> bytes:
    """DATA as JSON with one more top-level member, written as is."""
    return json.dumps(DATA).encode()[:-1] + b", " + text + b"}"


def with_txn(**fields: object) -> bytes:
    line = {"transactionId": "x1", "departureDate": "2026-01-30", "quantity": 3} | fields
    return json.dumps({**DATA, "transactions": [line]}).encode()


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (with_txn(departureDate="2026-02-01"), True),  # tomorrow
        (with_txn(departureDate="2026-02-02"), False),
        (with_txn(departureDate="2000-01-01"), True),
        (with_txn(departureDate="1999-12-31"), False),
        (with_txn(departureDate="2024-02-29"), True),
        (with_txn(departureDate="2025-02-29"), False),
        (with_txn(departureDate="1767225600"), True),  # pydantic reads it as 2026-01-01
        (with_txn(departureDate="2026-W05-5"), False),  # an ISO week date
        (with_txn(departureDate="\u0662\u0660\u0662\u0666-01-30"), False),  # Arabic digits
        (with_txn(departureDate="20260130"), False),  # date.fromisoformat takes it, we do not
        (with_txn(departureDate="2026-01-30\n"), False),
        (with_txn(departureDate="2026-1-030"), False),
        (with_txn(quantity="3"), True),
        (with_txn(quantity=1e9, unitPrice=None), True),
        (with_txn(quantity=0).replace(b'"quantity": 0', b'"quantity": -0'), True),
        (with_txn(quantity=0).replace(b'"quantity": 0', b'"quantity": -0.0'), True),
        (with_txn(quantity=0.1).replace(b"0.1", b"0.1000000000000000055511151231257827"), True),
        (
            json.dumps(
                {
                    **DATA,
                    "transactions": [
                        {"transaction_id": "x", "departure_date": "2026-01-30", "quantity": 1}
                    ],
                }
            ).encode(),
            True,
        ),
        (b'{"tenantId": "other", ' + json.dumps(DATA).encode()[1:], True),  # the last one wins
        (with_field(b'"tenantId": "other"'), False),
        (with_field(b'"x": [NaN, Infinity, 1e400]'), True),
        (with_field(b'"x": "\\ud800"'), True),  # a lone surrogate
        (with_field(b'"x": ' + b"[" * 300 + b"]" * 300), True),
        (with_field(b'"x": "a\nb"'), False),  # a raw control character
        (with_field(b'"x": ' + b"7" * 4301), False),
        (with_field(b'"x": "\xc3\xa9"'), True),
        (with_field(b'"x": "\xed\xa0\x80"'), False),  # not UTF-8
        # A structured CloudEvent without its content type, its specversion key escaped:
        (b'{"spec\\u0076ersion": "1.0", "data": ' + json.dumps(DATA).encode() + b"}", True),
        (with_field(b'"spec\\u0076ersion": "0.3", "data": {}'), False),
        (json.dumps({**DATA, "specversion": "0.3"}).encode(), True),  # no data: plain JSON
    ],
)
def test_the_fast_path_decodes_tricky_records_exactly_as_the_full_way(
    value: bytes, accepted: bool
) -> None:
    """Dates at the bounds and in other formats, alternative spellings, duplicate keys, JSON
    that only Python's parser takes, escaped keys: the same event or the same rejection."""
    result = decode(value)
    full = _decode_full(InboundRecord("in", 0, 7, b"t1", value), max_bytes=10_000, today=TODAY)
    assert (result, repr(result)) == (full, repr(full))  # repr: 2.0 is not 2, nor -0.0 0.0
    assert isinstance(result, SalesEvent) == accepted


def test_a_date_accepted_on_one_day_is_checked_again_on_another() -> None:
    """The fast path remembers plausible dates per day: tomorrow's date, once seen, does not
    pass for an earlier day, and passes again for the day it was seen on."""
    value = with_txn(departureDate="2026-02-01")
    record = InboundRecord("in", 0, 7, b"t1", value)
    days = [TODAY, TODAY - dt.timedelta(days=1), TODAY]
    results = [decode_sales_updated(record, max_bytes=10_000, today=day) for day in days]
    assert [isinstance(r, SalesEvent) for r in results] == [True, False, True]
    assert results[1] == _decode_full(record, max_bytes=10_000, today=days[1])


def test_an_accepted_event_keeps_its_dates_as_text_and_its_numbers_as_floats() -> None:
    """The fast path builds the same domain values the full way would."""
    event = decode(with_txn(quantity=2, unitCost="1.5"))
    assert isinstance(event, SalesEvent)
    assert event.transactions == (Txn("x1", "2026-01-30", 2.0, None, 1.5),)
    assert event == _decode_full(
        InboundRecord("in", 0, 7, b"t1", with_txn(quantity=2, unitCost="1.5")),
        max_bytes=10_000,
        today=TODAY,
    )


@pytest.mark.parametrize(
    ("headers", "envelope"),
    [
        ((), True),
        ((("traceparent", b"00-1"), ("Content-Type", b"application/json")), True),
        ((("CE_SPECVERSION", b"1.0"), ("ce_id", b"1")), False),
        ((("ce_specversion", b"0.3"),), None),
        ((("ce_specversion", None),), None),
        ((("content-type", b"application/cloudevents+json; charset=utf-8"),), None),
    ],
)
def test_valid_plain_json_and_binary_cloudevents_take_the_fast_path(
    headers: tuple[tuple[str, bytes | None], ...], envelope: bool | None
) -> None:
    """Plain JSON and binary CloudEvents 1.0 are validated from the bytes (no json.loads) into
    the same event; other envelopes are left to the full way."""
    value = json.dumps(DATA).encode()
    record = InboundRecord("in", 0, 7, b"t1", value, headers)  # type: ignore[arg-type]
    assert _fast_envelope(record.headers, value) is envelope
    if envelope is not None:
        event = _decode_fast(record, value, TODAY, plain=envelope)
        assert event is not None
        assert event == _decode_full(record, max_bytes=10_000, today=TODAY)


@pytest.fixture
def int_digit_limit_640() -> Iterator[None]:
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    yield
    sys.set_int_max_str_digits(before)


@pytest.mark.usefixtures("int_digit_limit_640")
def test_a_lowered_integer_digit_limit_still_makes_a_long_integer_literal_malformed() -> None:
    """json.loads obeys the process's digit limit; pydantic's parser has its own (4,300)."""
    result = decode(with_field(b'"x": ' + b"7" * 1000))
    assert isinstance(result, Rejection)
    assert result.reason == "malformed_json"


def test_outputs_are_binary_cloudevents_keyed_by_tenant_with_deterministic_ids() -> None:
    """Same id parts, same ce_id; the body is the payload in camelCase."""
    payload = DatasetFailed(
        tenant_id="t1",
        dataset_id="d1",
        run_id="r",
        stage="training",
        reason="why",
        source=Source(partition=0, offsets=[1], transactions=1),
    )
    one = cloudevent("out", payload, tenant="t1", subject="t1/d1", id_parts=("t1", "d1", "j"))
    two = cloudevent("out", payload, tenant="t1", subject="t1/d1", id_parts=("t1", "d1", "j"))
    headers = dict(one.headers)
    assert one.key == b"t1"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == dict(two.headers)["ce_id"]
    assert headers["ce_id"].decode() == event_id(headers["ce_type"].decode(), "t1", "d1", "j")
    assert json.loads(one.value or b"")["datasetId"] == "d1"


def test_a_dead_letter_keeps_the_original_and_names_the_error_and_source() -> None:
    """DLQ records carry the original key, value and headers plus context headers."""
    record = InboundRecord("in", 3, 42, b"k", b"v", (("h", b"1"),))
    dlq = dead_letter(
        record, Rejection("schema", "bad"), "in.dlq", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    headers = dict(dlq.headers)
    assert (dlq.topic, dlq.key, dlq.value, headers["h"]) == ("in.dlq", b"k", b"v", b"1")
    assert headers["dlq.error.reason"] == b"schema"
    assert (headers["dlq.source.partition"], headers["dlq.source.offset"]) == (b"3", b"42")
