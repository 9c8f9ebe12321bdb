"""Kafka over TLS and SASL: io-bridge's own connection code against a real SASL_SSL broker.

One broker for the module (``LocalKafka`` with :class:`BrokerSecurity`): a throwaway CA signs
its certificate, clients reach only its SASL_SSL listener, and the test user has PLAIN,
SCRAM-SHA-256 and SCRAM-SHA-512 credentials. Every client here is built from
``connection_config(Settings(...))``, the path the service takes. The harness's ``produce`` and
``collect`` speak PLAINTEXT, so the pipeline test uses the secured helpers below.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr

from service.adapters.kafka_common import connection_config
from service.bootstrap import serve
from service.config import Settings
from service.devkit.kafka_local import BrokerSecurity, LocalKafka, running_broker
from service.devkit.sample_data import generate
from service.devkit.sample_events import events as sample_events
from service.errors import ConfigurationError
from tests.pipeline_harness import pipeline_settings, running_service

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "io-bridge-test", "correct-horse-battery"
Connection = dict[str, Any]


@pytest.fixture(scope="module")
def secured() -> Iterator[LocalKafka]:
    """A broker whose only client listener is SASL_SSL; stopped and deleted after the module."""
    home = REPO / ".kafka" / f"pytest-secured-{os.getpid()}"
    try:
        with running_broker(home, security=BrokerSecurity(users={USER: PASSWORD})) as broker:
            yield broker
    finally:
        shutil.rmtree(home, ignore_errors=True)


def secured_settings(
    broker: LocalKafka, mechanism: str, password: str = PASSWORD, **overrides: Any
) -> Settings:
    """Settings for the secured broker as io-bridge would read them from IOB_KAFKA_*."""
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": broker.bootstrap,
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": mechanism,
        "kafka_sasl_username": USER,
        "kafka_sasl_password": SecretStr(password),
        "kafka_ssl_cafile": str(broker.ca_file),
        **overrides,
    }
    return Settings(**values)


async def create_topic(connection: Connection) -> str:
    """A fresh single-partition topic, created over the secured connection."""
    name = f"secure-{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(**connection)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def produce_secured(
    connection: Connection, topic: str, records: Iterable[tuple[bytes | None, bytes, Any]]
) -> list[tuple[int, int]]:
    """Send (key, value, headers) records; return each one's (partition, offset)."""
    producer = AIOKafkaProducer(**connection, acks="all", max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        sent = [await producer.send(topic, v, key=k, headers=h) for k, v, h in records]
        metas = await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in metas]


async def covering_events(
    connection: Connection, topic: str, offsets: set[tuple[int, int]], timeout_s: float
) -> list[dict[str, Any]]:
    """Read ``topic`` from the start until its events cover every input (partition, offset)."""
    consumer = AIOKafkaConsumer(
        topic, **connection, auto_offset_reset="earliest", group_id=None, metadata_max_age_ms=1000
    )
    seen: list[dict[str, Any]] = []
    await consumer.start()
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not offsets <= covered(seen):
                    batches = await consumer.getmany(timeout_ms=200)
                    seen += [json.loads(r.value) for recs in batches.values() for r in recs]
    finally:
        await consumer.stop()
    return seen


def covered(events: list[dict[str, Any]]) -> set[tuple[int, int]]:
    """Input (partition, offset) pairs that prediction-ready events say they cover."""
    return {(e["source"]["partition"], o) for e in events for o in e["source"]["offsets"]}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_a_record_round_trips_over_sasl_ssl_with_the_services_connection_config(
    secured: LocalKafka, mechanism: str
) -> None:
    """Admin, producer and consumer built by connection_config create, write and read back."""
    connection = connection_config(secured_settings(secured, mechanism))
    topic = await create_topic(connection)
    await produce_secured(connection, topic, [(b"tenant-1", b'{"x":1}', [("h", b"v")])])
    consumer = AIOKafkaConsumer(topic, **connection, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 20)
    finally:
        await consumer.stop()
    assert (record.key, record.value, list(record.headers)) == (
        b"tenant-1",
        b'{"x":1}',
        [("h", b"v")],
    )


@pytest.mark.parametrize(
    ("mechanism", "reason"),
    [
        ("PLAIN", "Invalid username or password"),
        ("SCRAM-SHA-512", "invalid credentials with SASL mechanism SCRAM-SHA-512"),
    ],
)
async def test_a_wrong_password_is_refused_and_the_log_carries_the_brokers_reason(
    secured: LocalKafka, mechanism: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The client cannot bootstrap; aiokafka logs SaslAuthenticationFailed with the reason."""
    settings = secured_settings(secured, mechanism, password="not-the-password")
    producer = AIOKafkaProducer(**connection_config(settings))
    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
            await producer.start()
        await producer.stop()
    logged = [r.getMessage() for r in caplog.records]
    refusals = [line for line in logged if "SaslAuthenticationFailed" in line]
    assert refusals
    assert reason in refusals[0]


async def test_io_bridge_with_a_wrong_password_stops_at_start_up_naming_the_refusal(
    secured: LocalKafka, caplog: pytest.LogCaptureFixture
) -> None:
    """serve() raises before consuming anything, and the log says why the broker said no."""
    settings = secured_settings(
        secured, "SCRAM-SHA-512", password="not-the-password", http_port=0, http_host="127.0.0.1"
    )
    with (
        caplog.at_level(logging.ERROR, logger="aiokafka"),
        pytest.raises(KafkaConnectionError),
    ):
        await asyncio.wait_for(serve(settings, asyncio.Event()), 30)
    assert any("SaslAuthenticationFailed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("overrides", "failure"),
    [
        (None, "closed"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_ssl_cafile": None}, "closed"),
        ({"kafka_ssl_cafile": None}, "CERTIFICATE_VERIFY_FAILED"),
    ],
    ids=["plaintext", "sasl-without-tls", "tls-without-the-test-ca"],
)
async def test_a_client_without_tls_or_without_the_ca_cannot_connect_to_the_tls_listener(
    secured: LocalKafka,
    overrides: dict[str, Any] | None,
    failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The TLS listener drops a cleartext client; TLS that does not trust the CA fails verify."""
    settings = (
        Settings(kafka_bootstrap_servers=secured.bootstrap)
        if overrides is None
        else secured_settings(secured, "SCRAM-SHA-512", **overrides)
    )
    producer = AIOKafkaProducer(**connection_config(settings), request_timeout_ms=10_000)
    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
            await producer.start()
        await producer.stop()
    assert any(failure in r.getMessage() for r in caplog.records)


@pytest.mark.slow
async def test_io_bridge_runs_the_pipeline_over_sasl_ssl_with_scram_sha_512(
    secured: LocalKafka, emulator_server: str
) -> None:
    """Sample ERP events in, one prediction-ready event per dataset out, every hop on SASL_SSL."""
    data = generate(tenants=1, products=4, days=400, seed=11)
    records = [(r.key, r.value, r.headers) for r in sample_events(data, invalid=0)]
    settings = pipeline_settings(
        secured.bootstrap,
        emulator_server,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=USER,
        kafka_sasl_password=SecretStr(PASSWORD),
        kafka_ssl_cafile=str(secured.ca_file),
    )
    connection = connection_config(settings)
    async with running_service(settings) as service:
        offsets = set(await produce_secured(connection, settings.topic_sales_updated, records))
        events = await covering_events(
            connection, settings.topic_prediction_ready, offsets, timeout_s=90
        )
        assert service.counter("io_bridge_events_consumed_total") >= len(records)
    assert covered(events) >= offsets
    datasets = {(e["tenantId"], e["datasetId"]) for e in events}
    assert datasets == {(d.tenant_id, d.dataset_id) for d in data.datasets}


def test_sasl_without_a_username_or_password_is_a_configuration_error() -> None:
    """connection_config refuses SASL_SSL before connecting when a credential is missing."""
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username=USER)
    with pytest.raises(ConfigurationError, match="IOB_KAFKA_SASL_PASSWORD"):
        connection_config(settings)


def test_credentials_with_a_protocol_that_ignores_them_are_refused_not_dropped() -> None:
    """SASL settings under PLAINTEXT would connect unauthenticated in cleartext: an error."""
    settings = Settings(kafka_sasl_username=USER, kafka_sasl_password=SecretStr(PASSWORD))
    with pytest.raises(ConfigurationError, match="did you mean SASL_SSL"):
        connection_config(settings)


def test_a_missing_ca_file_is_named_in_the_configuration_error(tmp_path: Path) -> None:
    """IOB_KAFKA_SSL_CAFILE pointing nowhere fails with the variable and the path."""
    missing = str(tmp_path / "nowhere.pem")
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=missing)
    with pytest.raises(ConfigurationError, match=f"IOB_KAFKA_SSL_CAFILE={missing}: no such file"):
        connection_config(settings)
