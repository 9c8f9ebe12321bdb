"""The demo's own Kafka clients: one producer for the sample stream, one reader of the outputs.

Plain aiokafka, as an ERP producer and a downstream consumer would use it. The reader assigns
every partition of the output topics and reads from the beginning without a consumer group, so
it never competes with io-bridge's group and sees every event once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from service.devkit.demo_outcomes import Kind, Received
from service.devkit.sample_model import SampleEvent

MAX_REQUEST_BYTES = 2 * 1024 * 1024  # the broker's message.max.bytes (deploy/local/kafka)
IN_FLIGHT = 200  # sends awaited together: bounds memory, keeps the producer's batches full


async def produce(
    bootstrap: str,
    topic: str,
    events: Iterable[SampleEvent],
    on_sent: Callable[[int], None] = lambda n: None,
) -> list[tuple[int, int]]:
    """Send the events in order (keyed by tenant); return each one's (partition, offset)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=MAX_REQUEST_BYTES,
        enable_idempotence=True,
    )
    await producer.start()
    placed: list[tuple[int, int]] = []
    try:
        pending: list[asyncio.Future[Any]] = []
        for event in events:
            key = event.key or None
            pending.append(await producer.send(topic, event.value, key=key, headers=event.headers))
            if len(pending) >= IN_FLIGHT:
                placed += await _settle(pending, on_sent)
        placed += await _settle(pending, on_sent)
    finally:
        await producer.stop()
    return placed


async def _settle(
    pending: list[asyncio.Future[Any]], on_sent: Callable[[int], None]
) -> list[tuple[int, int]]:
    metas = await asyncio.gather(*pending)
    pending.clear()
    on_sent(len(metas))
    return [(int(m.partition), int(m.offset)) for m in metas]


class OutputReader:
    """Reads the output topics from the start and hands each record to ``on_record``."""

    def __init__(
        self, bootstrap: str, topics: Mapping[str, Kind], on_record: Callable[[Received], None]
    ) -> None:
        self._topics = dict(topics)
        self._on_record = on_record
        # No group: every partition is assigned to this reader (aiokafka's group_id=None mode).
        self._consumer = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=1000,
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )

    async def start(self) -> None:
        await self._consumer.start()

    async def run(self, stop: asyncio.Event) -> None:
        """Read until ``stop`` is set."""
        while not stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            for tp, records in batches.items():
                for r in records:
                    self._on_record(self._received(tp.topic, r))

    async def caught_up(self) -> bool:
        """Whether every assigned partition has been read to its current end."""
        assigned = list(self._consumer.assignment())
        if not assigned:
            return False
        ends = await self._consumer.end_offsets(assigned)
        for tp in assigned:
            if await self._consumer.position(tp) < ends[tp]:
                return False
        return True

    async def stop(self) -> None:
        await self._consumer.stop()

    def _received(self, topic: str, r: Any) -> Received:
        return Received(
            kind=self._topics[topic],
            topic=topic,
            partition=int(r.partition),
            offset=int(r.offset),
            key=r.key,
            value=r.value,
            headers=tuple(r.headers),
            timestamp_ms=int(r.timestamp),
        )
