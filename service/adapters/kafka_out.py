"""The producer side: output events, DLQ records and changelog writes, each awaited to its ack.

``send`` returns only when the broker acknowledged every record (acks=all, idempotent), which
is what "durably handed off" means for io-bridge. In exactly-once mode the same producer is
transactional and :meth:`KafkaPublisher.transaction` groups outputs, changelog records and the
input offsets into one Kafka transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from service.codec import OutboundRecord


class KafkaPublisher:
    """One idempotent producer for every topic io-bridge writes."""

    def __init__(self, connection: dict[str, Any], *, transactional_id: str | None = None) -> None:
        self._producer = AIOKafkaProducer(
            **connection,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_request_size=4 * 1024 * 1024,
            compression_type="gzip",
            transactional_id=transactional_id,
        )
        self._txn_lock = asyncio.Lock()

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, records: Sequence[OutboundRecord]) -> None:
        """Send all records and wait until the broker acknowledged every one."""
        futures = [
            await self._producer.send(
                r.topic, r.value, key=r.key, headers=list(r.headers), partition=r.partition
            )
            for r in records
        ]
        if futures:
            await asyncio.gather(*futures)

    @contextlib.asynccontextmanager
    async def transaction(
        self, offsets: dict[tuple[str, int], int] | None = None, group_id: str | None = None
    ) -> AsyncIterator[None]:
        """A Kafka transaction around the block; input ``offsets`` commit with it."""
        async with self._txn_lock, self._producer.transaction():
            yield
            if offsets and group_id:
                tps = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
                await self._producer.send_offsets_to_transaction(tps, group_id)
