"""The consumer side: input records, pause/resume, explicit offset commits, rebalances.

Acknowledgement belongs here (style.md §5): the app says which offset of which partition is
safe, this adapter commits it, and only for partitions it still owns (a commit for a revoked
partition fails with CommitFailedError; kafka-pitfalls.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from service.codec import InboundRecord

log = structlog.get_logger(__name__)
PartitionsCallback = Callable[[list[int]], Awaitable[None]]
# Kafka's Java default since 3.0 (KIP-735); aiokafka's own is 10 s, which a busy event loop or a
# long rebalance callback can miss, and the member is then evicted and the group rebalances.
SESSION_TIMEOUT_MS = 45_000
HEARTBEAT_INTERVAL_MS = 3_000
# How long a fetch waits at most while an input partition is paused: only the consume loop,
# between fetches, resumes a partition (restored, or its batch flushed), so a full fetch timeout
# would hold it back that long (0.5 s after every restore).
PAUSED_FETCH_TIMEOUT_S = 0.05
_new = tuple.__new__


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc] # aiokafka is untyped
    def __init__(self, topic: str, assigned: PartitionsCallback, revoked: PartitionsCallback):
        self._topic, self._assigned, self._revoked = topic, assigned, revoked

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._revoked(sorted(tp.partition for tp in revoked if tp.topic == self._topic))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._assigned(sorted(tp.partition for tp in assigned if tp.topic == self._topic))


class KafkaInput:
    """A group member on the input topic with manual commits."""

    def __init__(
        self,
        connection: dict[str, Any],
        *,
        topic: str,
        group_id: str,
        max_poll_records: int,
        wake_topic: str | None = None,
        session_timeout_ms: int = SESSION_TIMEOUT_MS,
    ) -> None:
        self.topic = topic
        self.wake_topic = wake_topic
        self.group_id = group_id
        self._consumer = AIOKafkaConsumer(
            **connection,
            group_id=group_id,
            # Range assignment gives partition p of every subscribed topic to one member: the
            # wake-up topic, co-partitioned with the input, reaches the input partition's owner.
            partition_assignment_strategy=(RangePartitionAssignor,),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=max_poll_records,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            # How long the broker waits for a silent member (a crashed one holds its partitions
            # that long), and the heartbeat at most a third of it (the usual ratio).
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=min(HEARTBEAT_INTERVAL_MS, session_timeout_ms // 3),
        )

    async def start(self, assigned: PartitionsCallback, revoked: PartitionsCallback) -> None:
        topics = [self.topic, *([self.wake_topic] if self.wake_topic else [])]
        self._consumer.subscribe(topics, listener=_Listener(self.topic, assigned, revoked))
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def fetch(self, timeout_s: float) -> list[InboundRecord]:
        """The next records from owned, unpaused partitions (empty after the timeout, or after
        PAUSED_FETCH_TIMEOUT_S while an input partition is paused: the caller may resume it)."""
        if any(tp.topic == self.topic for tp in self._consumer.paused()):
            timeout_s = min(timeout_s, PAUSED_FETCH_TIMEOUT_S)
        batches = await self._consumer.getmany(timeout_ms=int(timeout_s * 1000))
        # Once per record, so built cheaply: tuple.__new__ makes the same named tuple without the
        # Python frame of its __new__ (as codec does for Txn), and aiokafka's headers are already
        # a tuple (its fetcher builds every ConsumerRecord with ``tuple(record.headers)``).
        out: list[InboundRecord] = []
        for tp, records in batches.items():
            topic, partition = tp.topic, tp.partition
            out += [
                _new(
                    InboundRecord,
                    (topic, partition, r.offset, r.key, r.value, r.headers, r.timestamp),
                )
                for r in records
            ]
        return out

    def pause(self, partitions: Iterable[int]) -> None:
        self._consumer.pause(*(TopicPartition(self.topic, p) for p in partitions))

    def resume(self, partitions: Iterable[int]) -> None:
        self._consumer.resume(*(TopicPartition(self.topic, p) for p in partitions))

    async def reachable(self, timeout_s: float = 5.0) -> bool:
        """One metadata round trip to the cluster (for readiness)."""
        try:
            await asyncio.wait_for(self._consumer.topics(), timeout_s)
        except (TimeoutError, KafkaError, OSError):
            return False
        return True

    def seek(self, partition: int, offset: int) -> None:
        """Fetch ``partition`` again from ``offset`` (if still owned)."""
        tp = TopicPartition(self.topic, partition)
        if tp in self._consumer.assignment():
            self._consumer.seek(tp, offset)

    def owned(self) -> set[int]:
        return {tp.partition for tp in self._consumer.assignment() if tp.topic == self.topic}

    async def commit(self, offsets: dict[tuple[str, int], int]) -> bool:
        """Commit ``{(topic, partition): next offset}`` for partitions still owned; False if
        it failed."""
        owned = self._consumer.assignment()
        mine = {tp: o for (t, p), o in offsets.items() if (tp := TopicPartition(t, p)) in owned}
        if not mine:
            return True
        try:
            await self._consumer.commit(mine)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # A rebalance is under way: the new owner resumes from the last committed offset.
            log.warning("commit_failed", error=type(exc).__name__, partitions=sorted(offsets))
            return False
        return True

    async def committed(self, partition: int) -> int | None:
        return await self._consumer.committed(TopicPartition(self.topic, partition))  # type: ignore[no-any-return]

    def highwater(self, partition: int) -> int | None:
        """The partition's end offset as of the last fetch (None before one)."""
        return self._consumer.highwater(TopicPartition(self.topic, partition))  # type: ignore[no-any-return]
