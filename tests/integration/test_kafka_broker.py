"""The real broker does what the service relies on: round trips, transactions, group resume."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.conftest import TopicFactory

pytestmark = pytest.mark.kafka


async def consume_to_end(
    bootstrap: str, topic: str, *, timeout_s: float = 20.0, **config: object
) -> list[bytes]:
    """Read partition 0 from the start up to its end offset (the LSO under read_committed)."""
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **config,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        async with asyncio.timeout(timeout_s):
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=200)
                values += [rec.value for rec in batch.get(tp, [])]
    finally:
        await consumer.stop()
    return values


async def test_a_produced_record_is_consumed_with_key_value_and_headers(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    """Produce one record and read it back unchanged."""
    topic = await new_topic()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"x":1}', key=b"tenant-1", headers=[("h", b"v")])
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
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


async def test_read_committed_sees_committed_transactions_and_not_aborted_ones(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    """A committed transaction is visible to read_committed; an aborted one never is."""
    topic = await new_topic()
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"txn-{uuid.uuid4().hex}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed-1")
            await producer.send(topic, b"committed-2")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed-3")
    finally:
        await producer.stop()
    committed = await consume_to_end(kafka_bootstrap, topic, isolation_level="read_committed")
    uncommitted = await consume_to_end(kafka_bootstrap, topic, isolation_level="read_uncommitted")
    assert committed == [b"committed-1", b"committed-2", b"committed-3"]
    assert b"aborted" in uncommitted


async def test_a_restarted_group_member_resumes_at_the_committed_offset(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    """Commit after record 3 of 6; a new consumer in the same group starts at record 4."""
    topic = await new_topic()
    group = f"g-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(6):
            await producer.send_and_wait(topic, f"r{i}".encode())
    finally:
        await producer.stop()

    first = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await first.start()
    try:
        seen = [await asyncio.wait_for(first.getone(), 20) for _ in range(3)]
        await first.commit({TopicPartition(topic, 0): seen[-1].offset + 1})
    finally:
        await first.stop()

    second = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await second.start()
    try:
        resumed = await asyncio.wait_for(second.getone(), 20)
    finally:
        await second.stop()
    assert [r.value for r in seen] == [b"r0", b"r1", b"r2"]
    assert (resumed.offset, resumed.value) == (3, b"r3")
