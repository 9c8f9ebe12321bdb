"""Properties of ``decode_sales_updated``: it never raises, and what it accepts is sound.

Inputs come from three strategies: arbitrary bytes and headers (Kafka allows null header
values), JSON texts of arbitrary shape, and valid events with one hostile mutation each, in any
of the three envelopes. Three regressions at the end pin bugs found here (each a poison pill:
an exception out of the decoder, or an accepted event the IO client cannot send, crashes the
service on every re-consumption of the record).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import EARLIEST_DATE, MAX_HORIZON, MAX_QUANTITY, MAX_TRANSACTIONS_PER_EVENT
from service.codec import InboundRecord, Rejection, _decode_full, dead_letter, decode_sales_updated
from service.domain.model import SalesEvent

TODAY = dt.date(2026, 6, 30)
MAX_BYTES = 64_000
REASONS = {
    "empty",
    "too_large",
    "not_utf8",
    "malformed_json",
    "unsupported_envelope",
    "schema",
    "key_mismatch",
}
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HeaderValue = bytes | None
Headers = tuple[tuple[str, HeaderValue], ...]


def decode(
    value: bytes | None, key: bytes | None = b"t1", headers: Headers = ()
) -> SalesEvent | Rejection:
    record = InboundRecord("sales", 2, 41, key, value, headers)  # type: ignore[arg-type]
    return decode_sales_updated(record, max_bytes=MAX_BYTES, today=TODAY)


def decode_fully(
    value: bytes | None, key: bytes | None = b"t1", headers: Headers = ()
) -> SalesEvent | Rejection:
    """The full way only (json.loads and SalesUpdated): what the fast path must agree with."""
    record = InboundRecord("sales", 2, 41, key, value, headers)  # type: ignore[arg-type]
    return _decode_full(record, max_bytes=MAX_BYTES, today=TODAY)


# ---------------------------------------------------------------- strategies
header_names = st.sampled_from(["ce_specversion", "content-type", "ce_id", "ce_type", "x-any"])
header_values = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.sampled_from([b"1.0", b"0.3", b"application/cloudevents+json", b"application/json"]),
)
headers_st = st.lists(st.tuples(header_names, header_values), max_size=4).map(tuple)
keys = st.one_of(st.none(), st.just(b"t1"), st.binary(max_size=12))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def valid_event() -> dict[str, Any]:
    return {
        "tenantId": "t1",
        "datasetId": "d1",
        "transactions": [
            {"transactionId": "x1", "departureDate": "2026-06-01", "quantity": 3},
            {"transactionId": "x2", "departureDate": "2026-06-29", "quantity": 0.5, "unitPrice": 9},
        ],
        "stockItem": {
            "currentInventoryLevel": 10,
            "wantedServiceLevel": 0.95,
            "timeToNextOrder": {"value": 2, "granularity": "W"},
            "supplier": {"supplierId": "s1", "leadTime": {"value": 1, "granularity": "W"}},
        },
        "forecast": {"frequency": "W", "horizon": 8},
    }


PATHS: list[tuple[str | int, ...]] = [
    ("tenantId",),
    ("datasetId",),
    ("transactions",),
    ("transactions", 0),
    ("transactions", 0, "transactionId"),
    ("transactions", 0, "departureDate"),
    ("transactions", 0, "quantity"),
    ("transactions", 1, "unitPrice"),
    ("stockItem",),
    ("stockItem", "wantedServiceLevel"),
    ("stockItem", "timeToNextOrder", "value"),
    ("stockItem", "supplier", "leadTime"),
    ("forecast",),
    ("forecast", "horizon"),
    ("forecast", "frequency"),
    ("retrain",),
]
hostile_leaves = st.one_of(
    json_values,
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "2024-02-30",
            "2099-01-01",
            "1999-12-31",
            "2026-6-1",
            -1,
            1e10,
            MAX_QUANTITY,
            "NaN",
            True,
            "12",
            [],
            {},
            "ü",
            "x" * 300,
        ]
    ),
)


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with up to three fields replaced or removed."""
    event = valid_event()
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(PATHS))
        mutate(event, path, draw(hostile_leaves), remove=draw(st.booleans()))
    return event


def mutate(event: dict[str, Any], path: tuple[str | int, ...], leaf: object, remove: bool) -> None:
    """Replace (or remove) the value at ``path`` if the path still exists."""
    parent: Any = event
    for step in path[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return
    last = path[-1]
    if isinstance(parent, dict) and isinstance(last, str):
        if remove:
            parent.pop(last, None)
        else:
            parent[last] = leaf
    elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        parent[last] = leaf


@st.composite
def enveloped(draw: st.DrawFn) -> tuple[bytes, Headers, bytes | None]:
    """(value, headers, key) of a mutated event in a random envelope."""
    event = draw(mutated_events())
    mode = draw(st.sampled_from(["plain", "structured", "binary"]))
    version = draw(st.sampled_from(["1.0", "1.0", "0.3", "2.0", ""]))
    headers: Headers = ()
    body: object = event
    if mode == "structured":
        body = {"specversion": version, "type": "x", "source": "/erp", "id": "1", "data": event}
        headers = (("content-type", b"application/cloudevents+json"),)
    elif mode == "binary":
        headers = (("ce_specversion", version.encode()), ("ce_id", b"1"))
    value = json.dumps(body).encode()
    tenant = event.get("tenantId")
    natural = tenant.encode("utf-8", "surrogatepass") if isinstance(tenant, str) else None
    key = draw(st.sampled_from([natural, None, b"someone-else"]))
    return value, headers, key


def same(one: SalesEvent | Rejection, other: SalesEvent | Rejection) -> bool:
    """Equal, and with the same types (repr tells 2 from 2.0, True from 1 and -0.0 from 0.0)."""
    return one == other and repr(one) == repr(other)


# Textual variations json.dumps never writes: each is spliced into a valid event's JSON text.
ODD_MEMBERS = [
    b'"x": NaN',
    b'"x": [Infinity, -Infinity, 1e400, -0, 1E+2]',
    b'"x": ' + b"9" * 4300,
    b'"x": -' + b"9" * 4301,
    b'"x": "\\ud800"',
    b'"x": "\\udc00\\ud800"',
    b'"x": "tab\there"',
    b'"x": "\xc3\xa9\xe2\x82\xac"',
    b'"x": "\xc0\x80"',
    b'"x": ' + b"[" * 250 + b"]" * 250,
    b'"spec\\u0076ersion": "1.0", "data": {"tenantId": "t1"}',
    b'"specversion": "1.0"',
    b'"data": {}',
    b'"tenantId": "t1"',
    b'"tenantId": "t2"',
    b'"tenant_id": "t2"',
    b'"dataset_id": "d2"',
    b'"\\u0074enantId": "t3"',
    b'"stock_item": null',
    b'"retrain": "yes"',
    b'"retrain": 1.0',
]
ODD_NUMBERS = [
    b"3",
    b"3.0",
    b"3e0",
    b"30E-1",
    b"0.30000000000000000000001e1",
    b"-0",
    b"1e9",
    b"1e-400",
]


@st.composite
def odd_texts(draw: st.DrawFn) -> bytes:
    """A valid (or mutated) event's JSON with odd members added at the front or the back, and
    its first quantity written in another number format."""
    text = json.dumps(draw(mutated_events())).encode()
    if draw(st.booleans()):
        text = text.replace(
            b'"quantity": 3', b'"quantity": ' + draw(st.sampled_from(ODD_NUMBERS)), 1
        )
    for member in draw(st.lists(st.sampled_from(ODD_MEMBERS), max_size=3)):
        if draw(st.booleans()):
            text = b"{" + member + b", " + text[1:]
        else:
            text = text[:-1] + b", " + member + b"}"
    return text


# ---------------------------------------------------------------- properties
@PROPERTY
@given(
    value=st.one_of(
        st.none(),
        st.binary(max_size=400),
        json_values.map(lambda v: json.dumps(v).encode()),
        enveloped().map(lambda case: case[0]),
        odd_texts(),
    ),
    key=keys,
    headers=headers_st,
)
def test_the_fast_path_decodes_every_record_exactly_as_the_full_way(
    value: bytes | None, key: bytes | None, headers: Headers
) -> None:
    """Bytes, JSON of any shape, mutated events in any envelope, JSON texts with duplicate,
    escaped or alternatively spelled keys, literals only Python's parser takes and numbers in
    other formats: the same event, or the same rejection with the same message."""
    assert same(decode(value, key, headers), decode_fully(value, key, headers))


@PROPERTY
@given(enveloped())
def test_the_fast_path_decodes_mutated_events_in_their_envelopes_as_the_full_way(
    case: tuple[bytes, Headers, bytes | None],
) -> None:
    """Mutated events with the key and headers of their envelope (mostly accepted ones)."""
    value, headers, key = case
    assert same(decode(value, key, headers), decode_fully(value, key, headers))


@PROPERTY
@given(value=st.one_of(st.none(), st.binary(max_size=400)), key=keys, headers=headers_st)
def test_decoding_never_raises_for_arbitrary_bytes_and_headers(
    value: bytes | None, key: bytes | None, headers: Headers
) -> None:
    """Any value, key and headers (null header values included) give an event or a reason."""
    result = decode(value, key, headers)
    assert isinstance(result, SalesEvent | Rejection)
    if isinstance(result, Rejection):
        assert result.reason in REASONS
        assert result.message


@PROPERTY
@given(value=json_values, headers=headers_st)
def test_decoding_never_raises_for_json_of_any_shape(value: object, headers: Headers) -> None:
    """JSON texts of any shape (non-finite numbers included) give an event or a reason."""
    result = decode(json.dumps(value).encode(), b"t1", headers)
    assert isinstance(result, SalesEvent | Rejection)


@PROPERTY
@given(enveloped())
def test_accepted_events_satisfy_the_domain_invariants(
    case: tuple[bytes, Headers, bytes | None],
) -> None:
    """Whatever is accepted has ids, 1–5,000 plausible transactions, finite bounded numbers, a
    key equal to its tenant, and its record's offset and size."""
    value, headers, key = case
    result = decode(value, key, headers)
    if isinstance(result, Rejection):
        assert result.reason in REASONS
        return
    assert_invariants(result, value, key)


def assert_invariants(event: SalesEvent, value: bytes, key: bytes | None) -> None:
    for ident in (event.tenant, event.dataset):
        assert 1 <= len(ident) <= 200
        assert not any(ord(c) < 0x20 for c in ident)
    assert key is None or key == event.tenant.encode()
    assert (event.offset, event.size) == (41, len(value))
    assert event.size <= MAX_BYTES
    assert 1 <= len(event.transactions) <= MAX_TRANSACTIONS_PER_EVENT
    total = 0.0
    for txn in event.transactions:
        assert txn.id
        day = dt.date.fromisoformat(txn.date)
        assert EARLIEST_DATE <= day <= TODAY + dt.timedelta(days=1)
        for number in (txn.quantity, txn.unit_price, txn.unit_cost):
            assert number is None or (math.isfinite(number) and 0 <= number <= MAX_QUANTITY)
        total += txn.quantity
    assert math.isfinite(total)
    if event.forecast is not None:
        assert event.forecast.frequency in MAX_HORIZON
        assert 1 <= event.forecast.horizon <= MAX_HORIZON[event.forecast.frequency]
    if event.stock_item is not None:
        assert 0 < event.stock_item.service_level < 1
        assert event.stock_item.time_to_next_order.value >= 1
        assert event.stock_item.lead_time.value >= 1


@settings(max_examples=200, deadline=None)
@given(tenant=st.text(min_size=1, max_size=12), keyed=st.booleans())
def test_the_tenant_of_an_accepted_event_can_be_sent_as_an_http_header(
    tenant: str, keyed: bool
) -> None:
    """The IO API takes the tenant in a ``tenantId`` header: an accepted tenant id must be
    printable ASCII without surrounding spaces (httpx raises UnicodeEncodeError for non-ASCII
    and LocalProtocolError for surrounding whitespace)."""
    event = valid_event() | {"tenantId": tenant}
    key = tenant.encode("utf-8", "surrogatepass") if keyed else None
    result = decode(json.dumps(event).encode(), key)
    if isinstance(result, SalesEvent):
        assert header_safe(result.tenant), repr(result.tenant)


def header_safe(text: str) -> bool:
    """What httpx (h11) sends as a header value: ASCII from space up (DEL passes), no
    surrounding whitespace."""
    return all(0x20 <= ord(c) <= 0x7F for c in text) and text == text.strip()


def test_the_mutation_strategy_still_produces_accepted_events() -> None:
    """The unmutated base event is valid, so the invariant property has accepted cases."""
    assert isinstance(decode(json.dumps(valid_event()).encode()), SalesEvent)


# ---------------------------------------------------------------- regressions (bugs found)
@pytest.mark.parametrize("name", ["content-type", "ce_specversion"])
def test_a_null_header_value_is_a_rejection_or_an_event_not_an_exception(name: str) -> None:
    """Kafka headers may have null values; the decoder read them with ``.decode()``."""
    result = decode(json.dumps(valid_event()).encode(), b"t1", ((name, None),))
    assert isinstance(result, SalesEvent | Rejection)


def test_an_integer_literal_beyond_4300_digits_is_a_rejection_not_an_exception() -> None:
    """``json.loads`` raises a plain ValueError (not JSONDecodeError) past Python's limit on
    integer digits; the decoder let it escape."""
    value = b'{"tenantId": "t1", "quantity": ' + b"9" * 5000 + b"}"
    result = decode(value)
    assert isinstance(result, Rejection)
    assert result.reason == "malformed_json"


@pytest.mark.parametrize("tenant", ["tenant-ü", " t1"])
def test_a_tenant_id_that_is_no_http_header_value_is_rejected(tenant: str) -> None:
    """Such a tenant id passes the schema today. Non-ASCII: the IO client cannot build the
    request (UnicodeEncodeError, not an IoApiError), the run task crashes the service, and the
    restarted service crashes on the same record again. Surrounding spaces: httpx refuses the
    header (LocalProtocolError), retried as a connection error until the job timeout."""
    event = valid_event() | {"tenantId": tenant}
    result = decode(json.dumps(event).encode(), tenant.encode())
    assert isinstance(result, Rejection)
    assert result.reason == "schema"


def test_the_dlq_error_message_header_stays_valid_utf8_when_cut() -> None:
    """``dead_letter`` cuts the message at 2,000 bytes of UTF-8; cut mid-character, the header
    is no longer UTF-8 (a long non-ASCII specversion is echoed in the message)."""
    headers: Headers = (("ce_specversion", ("\u00fc" * 1500).encode()),)
    value = json.dumps(valid_event()).encode()
    result = decode(value, b"t1", headers)
    assert isinstance(result, Rejection)
    record = InboundRecord("sales", 2, 41, b"t1", value, headers)  # type: ignore[arg-type]
    letter = dead_letter(record, result, "sales.dlq", dt.datetime(2026, 6, 30, tzinfo=dt.UTC))
    message = dict(letter.headers)["dlq.error.message"]
    assert message is not None
    message.decode("utf-8")
