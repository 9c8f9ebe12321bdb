"""The input adapter against the real broker: fetch timeouts while partitions are paused."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from service.adapters.kafka_in import PAUSED_FETCH_TIMEOUT_S, KafkaInput
from tests.conftest import TopicFactory

pytestmark = pytest.mark.kafka


async def test_a_fetch_returns_soon_while_an_input_partition_is_paused(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    """Only the consume loop resumes a paused partition (restored, or its batch flushed), so a
    fetch while one is paused gives up after PAUSED_FETCH_TIMEOUT_S, not its full timeout."""
    topic = await new_topic(partitions=2)
    kafka = KafkaInput(
        {"bootstrap_servers": kafka_bootstrap},
        topic=topic,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        max_poll_records=10,
    )
    assigned = asyncio.Event()

    async def on_assigned(partitions: list[int]) -> None:
        if partitions:
            assigned.set()

    async def on_revoked(partitions: list[int]) -> None:
        return None

    await kafka.start(on_assigned, on_revoked)
    try:
        async with asyncio.timeout(30):
            while not assigned.is_set():
                await kafka.fetch(timeout_s=0.1)
        began = time.perf_counter()
        assert await kafka.fetch(timeout_s=0.5) == []
        unpaused = time.perf_counter() - began
        kafka.pause([0])
        began = time.perf_counter()
        assert await kafka.fetch(timeout_s=0.5) == []
        paused = time.perf_counter() - began
    finally:
        await kafka.stop()
    assert unpaused >= 0.4
    assert paused < PAUSED_FETCH_TIMEOUT_S + 0.2
