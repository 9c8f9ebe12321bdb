"""The producer side: output events, DLQ records and changelog writes, each awaited to its ack.

``send`` returns only when the broker acknowledged every record (acks=all, idempotent), which
is what "durably handed off" means for io-bridge. Each ``send`` is one unit: in exactly-once
mode one Kafka transaction (outputs, changelog records and, when given, the input offsets), so
read_committed consumers see all of it or none; otherwise the records are sent in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from service.codec import OutboundRecord


class KafkaPublisher:
    """One idempotent producer for every topic io-bridge writes (transactional if given an id).

    Transactions are serialised by a lock: one producer has one open transaction at a time.
    Only Kafka sends happen inside one, never an IO API call.
    """

    def __init__(self, connection: dict[str, Any], *, transactional_id: str | None = None) -> None:
        self.transactional = transactional_id is not None
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

    async def send(
        self,
        records: Sequence[OutboundRecord],
        offsets: dict[tuple[str, int], int] | None = None,
        group_id: str | None = None,
    ) -> None:
        """Send ``records`` as one unit and wait until the broker acknowledged every one.

        Transactional: one Kafka transaction, which also commits the input ``offsets`` for
        ``group_id`` (read_committed consumers see all of it or none). Otherwise the records
        are sent in order and ``offsets`` are ignored (the consumer commits them itself).
        """
        if not self.transactional:
            await self._send(records)
            return
        async with self._txn_lock, self._producer.transaction():
            await self._send(records)
            if offsets and group_id:
                tps = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
                await self._producer.send_offsets_to_transaction(tps, group_id)

    async def flush(self) -> None:
        """Wait until every record handed to the producer so far is acknowledged (or failed).

        A run task cancelled mid-send leaves its records in flight; they must land before the
        partition's next owner restores the changelog, or it would miss them.
        """
        await self._producer.flush()

    async def _send(self, records: Sequence[OutboundRecord]) -> None:
        futures = [
            await self._producer.send(
                r.topic, r.value, key=r.key, headers=list(r.headers), partition=r.partition
            )
            for r in records
        ]
        if futures:
            await asyncio.gather(*futures)
