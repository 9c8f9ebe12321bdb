"""Hostile sales-updated records through the real service: each ends in the DLQ with a clear
reason or is processed, and the service neither crashes nor stalls.

A hand-written corpus (one record per way an ERP or an attacker can get it wrong) and a batch of
hypothesis-generated records go to a service running in this event loop; a valid event sent
after them must still come out. Three tests at the end pin poison pills found here: records that
crash the service, which then crashes again on the same record after every restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.bootstrap import serve
from service.codec import InboundRecord, Rejection, decode_sales_updated
from service.config import Settings
from tests.accounting import OutputRecord
from tests.chaos import TopicReader
from tests.pipeline_harness import InProcessService, pipeline_settings, running_service

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TENANT = "hostile"
KEY = TENANT.encode()
TODAY = dt.datetime.now(dt.UTC).date()
HeaderList = tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True)
class Hostile:
    """One record and what must become of it: a DLQ reason, or ``None`` = processed."""

    name: str
    value: bytes | None
    reason: str | None
    key: bytes | None = KEY
    headers: HeaderList = ()


def day(offset: int) -> str:
    return (TODAY - dt.timedelta(days=offset)).isoformat()


def event(dataset: str = "ds", tenant: str = TENANT, **fields: Any) -> dict[str, Any]:
    """A valid event (60 days of sales) with ``fields`` replaced."""
    lines = [
        {"transactionId": f"{dataset}-{n}", "departureDate": day(n), "quantity": 1 + n % 5}
        for n in range(1, 61)
    ]
    body: dict[str, Any] = {
        "tenantId": tenant,
        "datasetId": dataset,
        "transactions": lines,
        "forecast": {"frequency": "D", "horizon": 7},
    }
    return body | fields


def js(value: object) -> bytes:
    return json.dumps(value).encode()


def txn(**fields: Any) -> list[dict[str, Any]]:
    return [{"transactionId": "t1", "departureDate": day(1), "quantity": 1} | fields]


def nested(depth: int) -> bytes:
    return b'{"tenantId": "hostile", "x": ' + b"[" * depth + b"]" * depth + b"}"


CORPUS: list[Hostile] = [
    # bytes that are not a JSON object
    Hostile("truncated JSON", js(event())[:200], "malformed_json"),
    Hostile("empty value", b"", "malformed_json"),
    Hostile("tombstone (no value)", None, "empty"),
    Hostile("UTF-8 BOM", b"\xef\xbb\xbf" + js(event("bom")), "malformed_json"),
    Hostile("JSON array", b"[1, 2, 3]", "schema"),
    Hostile("JSON string", b'"sales"', "schema"),
    Hostile("JSON null", b"null", "schema"),
    Hostile("non-UTF-8 bytes", b'{"tenantId": "hostile\xff\xfe"}', "not_utf8"),
    Hostile("Latin-1 JSON", js(event("caf\u00e9")).replace(b"\\u00e9", b"\xe9"), "not_utf8"),
    Hostile("deeply nested JSON (100k)", nested(100_000), "malformed_json"),
    Hostile("nested JSON (5k) in an unknown field", nested(5_000), "malformed_json"),
    # wrong types
    Hostile("tenantId a number", js(event(tenant=123)), "schema"),  # type: ignore[arg-type]
    Hostile("transactions an object", js(event(transactions={"a": 1})), "schema"),
    Hostile("quantity a phrase", js(event(transactions=txn(quantity="12 pcs"))), "schema"),
    Hostile(
        "departureDate a number", js(event(transactions=txn(departureDate=20240101))), "schema"
    ),
    Hostile("stockItem a string", js(event(stockItem="lots")), "schema"),
    Hostile(
        "forecast horizon a string", js(event(forecast={"frequency": "W", "horizon": "4"})), None
    ),
    # missing or empty ids
    Hostile("no tenantId", js({k: v for k, v in event().items() if k != "tenantId"}), "schema"),
    Hostile("no datasetId", js({k: v for k, v in event().items() if k != "datasetId"}), "schema"),
    Hostile(
        "no transactionId",
        js(event(transactions=[{"departureDate": day(1), "quantity": 1}])),
        "schema",
    ),
    Hostile("empty datasetId", js(event("")), "schema"),
    Hostile("empty transactionId", js(event(transactions=txn(transactionId=""))), "schema"),
    Hostile("no transactions", js(event(transactions=[])), "schema"),
    Hostile("null byte in datasetId", js(event("a\x00b")), "schema"),
    Hostile(
        "null byte in transactionId", js(event(transactions=txn(transactionId="t\x00"))), "schema"
    ),
    Hostile("lone surrogate in datasetId", js(event("\ud800")), "schema"),
    # numbers
    Hostile("NaN quantity", js(event(transactions=txn(quantity=float("nan")))), "schema"),
    Hostile("Infinity quantity", js(event(transactions=txn(quantity=float("inf")))), "schema"),
    Hostile(
        "1e400 quantity (overflows to inf)",
        js(event()).replace(b'"quantity": 2', b'"quantity": 1e400'),
        "schema",
    ),
    Hostile("negative quantity", js(event(transactions=txn(quantity=-1))), "schema"),
    Hostile("huge quantity", js(event(transactions=txn(quantity=1e12))), "schema"),
    Hostile("NaN unit price", js(event(transactions=txn(unitPrice=float("nan")))), "schema"),
    Hostile(
        "service level 1.5",
        js(
            event(
                stockItem={
                    "currentInventoryLevel": 1,
                    "wantedServiceLevel": 1.5,
                    "timeToNextOrder": {"value": 1, "granularity": "W"},
                    "supplier": {"supplierId": "s", "leadTime": {"value": 1, "granularity": "W"}},
                }
            )
        ),
        "schema",
    ),
    Hostile("horizon 10**30", js(event(forecast={"frequency": "W", "horizon": 10**30})), "schema"),
    Hostile("horizon -1", js(event(forecast={"frequency": "W", "horizon": -1})), "schema"),
    # dates
    Hostile("30 February", js(event(transactions=txn(departureDate="2024-02-30"))), "schema"),
    Hostile("month 13", js(event(transactions=txn(departureDate="2024-13-01"))), "schema"),
    Hostile("year 0", js(event(transactions=txn(departureDate="0000-01-01"))), "schema"),
    Hostile("before 2000", js(event(transactions=txn(departureDate="1999-12-31"))), "schema"),
    Hostile("far future", js(event(transactions=txn(departureDate="2099-01-01"))), "schema"),
    Hostile(
        "date with a time",
        js(event(transactions=txn(departureDate=day(1) + "T00:00:00"))),
        "schema",
    ),
    Hostile("unpadded date", js(event(transactions=txn(departureDate="2024-1-1"))), "schema"),
    # sizes
    Hostile(
        "10,000 transactions",
        js(
            event(
                transactions=[
                    {"transactionId": f"t{n}", "departureDate": day(1), "quantity": 1}
                    for n in range(10_000)
                ]
            )
        ),
        "schema",
    ),
    Hostile("1.1 MB value (limit 1 MB)", js(event(pad="x" * 1_100_000)), "too_large"),
    Hostile("10,000-character datasetId", js(event("d" * 10_000)), "schema"),
    Hostile(
        "100 kB transactionId", js(event(transactions=txn(transactionId="t" * 100_000))), "schema"
    ),
    Hostile("500 kB unknown field", js(event("padded", pad="p" * 500_000)), None),
    # envelopes
    Hostile(
        "binary CloudEvent 0.3",
        js(event()),
        "unsupported_envelope",
        headers=(("ce_specversion", b"0.3"),),
    ),
    Hostile(
        "binary CloudEvent 2.0",
        js(event()),
        "unsupported_envelope",
        headers=(("ce_specversion", b"2.0"),),
    ),
    Hostile(
        "binary specversion not UTF-8",
        js(event()),
        "unsupported_envelope",
        headers=(("ce_specversion", b"\xff"),),
    ),
    Hostile(
        "structured CloudEvent 0.3",
        js({"specversion": "0.3", "data": event()}),
        "unsupported_envelope",
        headers=(("content-type", b"application/cloudevents+json"),),
    ),
    Hostile(
        "structured without data",
        js({"specversion": "1.0", "id": "1"}),
        "schema",
        headers=(("content-type", b"application/cloudevents+json"),),
    ),
    Hostile(
        "structured, data_base64",
        js({"specversion": "1.0", "data_base64": "e30="}),
        "schema",
        headers=(("content-type", b"application/cloudevents+json"),),
    ),
    Hostile(
        "structured, data a string",
        js({"specversion": "1.0", "data": json.dumps(event())}),
        "schema",
        headers=(("content-type", b"application/cloudevents+json"),),
    ),
    # keys and duplicate keys
    Hostile("key of another tenant", js(event()), "key_mismatch", key=b"someone-else"),
    Hostile("key not UTF-8", js(event()), "key_mismatch", key=b"\xff\xfe"),
    Hostile(
        "duplicate tenantId, other tenant last",
        b'{"tenantId": "hostile", "tenantId": "mallory", '
        + js(event())[1:].replace(b'"tenantId": "hostile", ', b""),
        "key_mismatch",
    ),
    Hostile(
        "duplicate datasetId (last wins)",
        b'{"datasetId": "first", ' + js(event("dup-keys"))[1:],
        None,
    ),
    Hostile(
        "duplicate transactionIds in one event",
        js(event("dup-txns", transactions=txn() + txn(quantity=5))),
        None,
    ),
    # accepted oddities: processed like any event
    Hostile("no key", js(event("no-key")), None, key=None),
    Hostile(
        "unknown fields everywhere",
        js(event("extra", extra={"a": [1, {"b": None}]}, retrain=True)),
        None,
    ),
    Hostile(
        "binary CloudEvent 1.0",
        js(event("binary")),
        None,
        headers=(("ce_specversion", b"1.0"), ("ce_id", b"x")),
    ),
]


@pytest.fixture(autouse=True)
def collect_garbage_here() -> Iterator[None]:
    """A service that a poison pill stopped may leave aiokafka clients unclosed; collect them
    before this test ends, so their ResourceWarnings are reported here, not in a later test."""
    yield
    gc.collect()


# ---------------------------------------------------------------- the service
def hostile_settings(kafka_bootstrap: str, emulator_url: str) -> Settings:
    """Short job timeouts: a record that stalls a run must fail it quickly, not in 15 min."""
    return pipeline_settings(
        kafka_bootstrap,
        emulator_url,
        job_timeout_validation_seconds=20.0,
        job_timeout_training_seconds=30.0,
        job_timeout_prediction_seconds=30.0,
        job_timeout_classification_seconds=30.0,
    )


async def produce_all(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes | None, HeaderList]]
) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=4 * 1024 * 1024
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=list(headers))
            for key, value, headers in records
        ]
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in metas]


@dataclass
class Outcomes:
    """What the outputs say about each input position."""

    dlq: dict[tuple[int, int], list[OutputRecord]]
    processed: dict[tuple[int, int], list[OutputRecord]]

    @classmethod
    def of(cls, records: Sequence[OutputRecord], s: Settings) -> Outcomes:
        dlq: dict[tuple[int, int], list[OutputRecord]] = {}
        processed: dict[tuple[int, int], list[OutputRecord]] = {}
        for r in records:
            if r.topic == s.topic_dlq:
                partition = int(r.header("dlq.source.partition") or b"-1")
                dlq.setdefault((partition, int(r.header("dlq.source.offset") or b"-1")), []).append(
                    r
                )
                continue
            source = (r.body() or {}).get("source") or {}
            for offset in source.get("offsets", []):
                processed.setdefault((source["partition"], offset), []).append(r)
        return cls(dlq, processed)

    def named(self) -> set[tuple[int, int]]:
        return set(self.dlq) | set(self.processed)


async def push_through(
    service: InProcessService,
    bootstrap: str,
    records: Sequence[tuple[bytes | None, bytes | None, HeaderList]],
    timeout_s: float,
) -> tuple[list[tuple[int, int]], Outcomes]:
    """Produce ``records`` and a valid sentinel event after them; wait until every one has an
    outcome. Fails at once if the service task ends (a crash), or after ``timeout_s`` (a
    stall: the sentinel never came out)."""
    s = service.settings
    sentinel = (b"sentinel", js(event("sentinel", tenant="sentinel")), ())
    positions = await produce_all(bootstrap, s.topic_sales_updated, [*records, sentinel])
    topics = [s.topic_dlq, s.topic_prediction_ready, s.topic_dataset_failed]
    reader = TopicReader(bootstrap, topics, read_committed=False)
    await reader.start()
    try:
        async with asyncio.timeout(timeout_s):
            while not (service.task is not None and service.task.done()):
                if await reader.poll(300) and Outcomes.of(reader.records, s).named() >= set(
                    positions
                ):
                    break
    except TimeoutError:
        pass
    finally:
        await reader.stop()
    if service.task is not None and service.task.done():
        pytest.fail(f"the service stopped (a poison pill): {service.task.exception()!r}")
    outcomes = Outcomes.of(reader.records, s)
    missing = set(positions) - outcomes.named()
    assert not missing, f"no outcome after {timeout_s}s (stalled) for {sorted(missing)}"
    assert outcomes.processed.get(positions[-1]), "the sentinel after the records was lost"
    return positions[:-1], outcomes


def verdicts(
    cases: Sequence[tuple[str, str | None]],
    positions: Sequence[tuple[int, int]],
    outcomes: Outcomes,
) -> list[str]:
    """Per case: what was expected, what happened; only the mismatches."""
    wrong = []
    for (name, reason), position in zip(cases, positions, strict=True):
        letters = outcomes.dlq.get(position, [])
        done = outcomes.processed.get(position, [])
        if reason == "any":  # no crash and a final state is all that is asked
            if not letters and not done:
                wrong.append(f"{name}: no final state")
            continue
        if reason is None:
            if letters or not done:
                wrong.append(f"{name}: expected processed, got DLQ {reasons(letters)}")
            continue
        got = reasons(letters)
        if done or got != [reason]:
            wrong.append(f"{name}: expected DLQ {reason}, got DLQ {got}, outputs {len(done)}")
        elif not all(r.header("dlq.error.message") for r in letters):
            wrong.append(f"{name}: DLQ record without dlq.error.message")
    return wrong


def reasons(letters: list[OutputRecord]) -> list[str]:
    return sorted({(r.header("dlq.error.reason") or b"").decode() for r in letters})


# ---------------------------------------------------------------- the corpus
@pytest.mark.timeout(240)
async def test_every_hostile_record_is_dead_lettered_with_a_reason_or_processed(
    kafka_bootstrap: str, emulator_server: str
) -> None:
    """Malformed JSON, wrong types, missing, empty and poisoned ids, bad numbers and dates,
    oversize events, unknown envelopes, foreign keys, duplicate keys: each ends in the DLQ with
    the expected reason and a message, or is processed; the service keeps going."""
    settings = hostile_settings(kafka_bootstrap, emulator_server)
    async with running_service(settings) as service:
        records = [(h.key, h.value, h.headers) for h in CORPUS]
        positions, outcomes = await push_through(service, kafka_bootstrap, records, 150)
        invalid = service.counter("io_bridge_dlq_records_total")
    assert verdicts([(h.name, h.reason) for h in CORPUS], positions, outcomes) == []
    assert invalid == sum(h.reason is not None for h in CORPUS)


# ---------------------------------------------------------------- generated records
def json_leaf() -> st.SearchStrategy[object]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(["", " ", "\x00", "2024-02-30", "2099-01-01", day(3), "NaN"]),
    )


FIELDS = ["tenantId", "datasetId", "transactions", "stockItem", "forecast", "retrain"]
LINE_FIELDS = ["transactionId", "departureDate", "quantity", "unitPrice", "unitCost"]


@st.composite
def generated(draw: st.DrawFn) -> tuple[bytes, bytes | None, HeaderList]:
    """(value, key, headers): a valid event with some top-level and line fields replaced or
    dropped, in a random envelope, under the natural key, no key or another key."""
    n = draw(st.integers(0, 10_000))
    body = event(f"gen-{n}")
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=2)):
        if draw(st.booleans()):
            body.pop(name, None)
        else:
            body[name] = draw(json_leaf())
    lines = body.get("transactions")
    if isinstance(lines, list) and lines and draw(st.booleans()):
        lines[0] = dict(lines[0])
        lines[0][draw(st.sampled_from(LINE_FIELDS))] = draw(json_leaf())
    envelope = draw(st.sampled_from(["plain", "structured", "binary"]))
    headers: HeaderList = ()
    data: object = body
    if envelope == "structured":
        data = {"specversion": draw(st.sampled_from(["1.0", "0.3"])), "data": body}
        headers = (("content-type", b"application/cloudevents+json"),)
    elif envelope == "binary":
        headers = (("ce_specversion", draw(st.sampled_from([b"1.0", b"1.0", b"9.9"]))),)
    key = draw(st.sampled_from([KEY, None, b"other"]))
    return js(data), key, headers


def draw_examples(count: int) -> list[tuple[bytes, bytes | None, HeaderList]]:
    """``count`` generated records (derandomized: the same list on every run)."""
    found: list[tuple[bytes, bytes | None, HeaderList]] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(generated())
    def gather(case: tuple[bytes, bytes | None, HeaderList]) -> None:
        found.append(case)

    gather()
    return found[:count]


def expected_reason(value: bytes, key: bytes | None, headers: HeaderList) -> str | None:
    """The codec's own verdict (``tests/unit/test_codec_properties.py`` checks the codec)."""
    record = InboundRecord("in", 0, 0, key, value, headers)  # type: ignore[arg-type]
    result = decode_sales_updated(record, max_bytes=1_000_000, today=TODAY)
    return result.reason if isinstance(result, Rejection) else None


@pytest.mark.timeout(240)
async def test_generated_hostile_records_are_dead_lettered_or_processed_as_the_codec_decides(
    kafka_bootstrap: str, emulator_server: str
) -> None:
    """40 hypothesis-generated variations of a valid event: the DLQ gets exactly the ones the
    codec rejects, with its reason; the rest come out as outputs; the service keeps going."""
    cases = draw_examples(40)
    expected = [expected_reason(v, k, h) for v, k, h in cases]
    assert any(r is None for r in expected)
    assert any(r is not None for r in expected)
    settings = hostile_settings(kafka_bootstrap, emulator_server)
    async with running_service(settings) as service:
        records = [(k, v, h) for v, k, h in cases]
        positions, outcomes = await push_through(service, kafka_bootstrap, records, 150)
    named = [
        (f"generated #{i}: {v[:80]!r}", r)
        for i, ((v, _, _), r) in enumerate(zip(cases, expected, strict=True))
    ]
    assert verdicts(named, positions, outcomes) == []


# ---------------------------------------------------------------- poison pills (bugs)
POISON: list[Hostile] = [
    Hostile(
        "a null content-type header",
        js(event("null-header")),
        "any",
        headers=(("content-type", None),),
    ),
    Hostile(
        "an integer literal of 5,000 digits",
        b'{"tenantId": "hostile", "q": ' + b"7" * 5000 + b"}",
        "any",
    ),
    Hostile(
        "a non-ASCII tenant id",
        js(event("umlaut", tenant="hostile-\u00fc")),
        "any",
        key="hostile-\u00fc".encode(),
    ),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", POISON, ids=[p.name for p in POISON])
async def test_a_record_that_crashed_the_service_is_dead_lettered_and_the_service_goes_on(
    kafka_bootstrap: str, emulator_server: str, case: Hostile
) -> None:
    """BUG pins: a null header value, an integer beyond Python's 4,300-digit limit, a tenant id
    httpx cannot put in a header. Each stopped the service (and would again after every restart,
    on the same record); each must end in a final state (the DLQ, or an output) while the
    sentinel after it comes out."""
    settings = hostile_settings(kafka_bootstrap, emulator_server)
    async with running_service(settings) as service:
        positions, outcomes = await push_through(
            service, kafka_bootstrap, [(case.key, case.value, case.headers)], 60
        )
    assert verdicts([(case.name, case.reason)], positions, outcomes) == []


@pytest.mark.timeout(120)
async def test_a_run_that_crashes_stops_the_service_which_still_leaves_its_group_cleanly(
    kafka_bootstrap: str, emulator_server: str, admin: AIOKafkaAdminClient
) -> None:
    """BUG pin: a run that dies of an unexpected error stops the service (the platform restarts
    it) after a clean shutdown. ``App._shutdown`` awaits the dead run task through
    ``PartitionWorker.stop``, which suppresses only CancelledError: the run's error escapes
    there, so flush, final commit and leaving the group are skipped (the consumer is left
    unclosed; its partitions wait a session timeout). Trigger: the changelog topic rejects every
    record (max.message.bytes 10), so the run's hand-off write raises."""
    settings = hostile_settings(kafka_bootstrap, emulator_server)
    await admin.create_topics(
        [
            NewTopic(settings.topic_sales_updated, 1, 1),
            NewTopic(
                settings.topic_state,
                1,
                1,
                topic_configs={"cleanup.policy": "compact", "max.message.bytes": "10"},
            ),
        ]
    )
    service = InProcessService(settings)
    service.task = asyncio.create_task(serve(settings, service.stop, metrics=service.metrics))
    members: list[object] = []
    try:
        await service.wait_assigned()
        await produce_all(kafka_bootstrap, settings.topic_sales_updated, [(KEY, js(event()), ())])
        await asyncio.wait({service.task}, timeout=45)
        stopped = service.task.done()
        if stopped:
            members = await group_members(admin, settings.group_id)
    finally:
        service.stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(service.task, 30)
    assert stopped, "a run whose changelog write failed did not stop the service within 45 s"
    assert members == [], f"the stopped service did not leave its group: {members}"


async def group_members(admin: AIOKafkaAdminClient, group: str) -> list[object]:
    """Members the coordinator still lists for ``group``."""
    [response] = await admin.describe_consumer_groups([group])
    [described] = response.to_object()["groups"]
    return list(described["members"])
