"""Creates the topics io-bridge owns when they are missing (architecture §2)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from service.config import Settings
from service.errors import ConfigurationError

log = structlog.get_logger(__name__)


async def ensure_topics(settings: Settings, connection: dict[str, Any]) -> int:
    """Create missing topics; return the input topic's partition count.

    The state changelog is compacted and co-partitioned with the input (state for input
    partition p lives in changelog partition p), so their partition counts must match.
    """
    admin = AIOKafkaAdminClient(**connection)
    await admin.start()
    try:
        counts = await _partition_counts(admin)
        inputs = counts.get(settings.topic_sales_updated) or settings.topic_partitions
        wanted = _wanted(settings, inputs)
        missing = [t for t in wanted if t.name not in counts]
        if missing and settings.create_topics:
            await _create(admin, missing)
            counts = await _visible(admin, {t.name for t in wanted})
    finally:
        await admin.close()
    _check(settings, counts, inputs)
    return inputs


def _wanted(settings: Settings, partitions: int) -> list[NewTopic]:
    rf = settings.topic_replication_factor
    compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
    names = [
        settings.topic_sales_updated,
        settings.topic_prediction_ready,
        settings.topic_classification_ready,
        settings.topic_dataset_failed,
        settings.topic_dlq,
    ]
    topics = [NewTopic(n, num_partitions=partitions, replication_factor=rf) for n in names]
    topics.append(
        NewTopic(settings.topic_state, partitions, replication_factor=rf, topic_configs=compacted)
    )
    if settings.webhooks_enabled:  # wake-up hints: co-partitioned with the input, short-lived
        hour = {"retention.ms": "3600000"}
        topics.append(NewTopic(settings.topic_wakeups, partitions, rf, topic_configs=hour))
    return topics


async def _create(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> None:
    for topic in topics:  # one by one: a concurrent creator makes only its own call fail
        try:
            await admin.create_topics([topic])
            log.info("topic_created", topic=topic.name, partitions=topic.num_partitions)
        except TopicAlreadyExistsError:
            pass


async def _visible(
    admin: AIOKafkaAdminClient, names: set[str], timeout_s: float = 30.0
) -> dict[str, int]:
    """Partition counts once every named topic shows in metadata (creation is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        counts = await _partition_counts(admin)
        if names <= counts.keys() or asyncio.get_running_loop().time() > deadline:
            return counts
        await asyncio.sleep(0.2)


async def _partition_counts(admin: AIOKafkaAdminClient) -> dict[str, int]:
    names = await admin.list_topics()
    described = await admin.describe_topics(list(names)) if names else []
    return {d["topic"]: len(d["partitions"]) for d in described if not d.get("error_code")}


def _check(settings: Settings, counts: dict[str, int], inputs: int) -> None:
    names = [settings.topic_sales_updated, settings.topic_state]
    names += [settings.topic_wakeups] if settings.webhooks_enabled else []
    for name in names:
        if name not in counts:
            why = "was not visible after creation" if settings.create_topics else "does not exist"
            raise ConfigurationError(
                f"topic {name} {why} (IOB_CREATE_TOPICS={settings.create_topics})"
            )
    if settings.webhooks_enabled and counts[settings.topic_wakeups] != inputs:
        raise ConfigurationError(
            f"wake-up topic {settings.topic_wakeups} must have the {inputs} partitions of "
            f"{settings.topic_sales_updated} (co-partitioned)"
        )
    if counts[settings.topic_state] < inputs:
        raise ConfigurationError(
            f"state topic {settings.topic_state} has {counts[settings.topic_state]} partitions, "
            f"fewer than the {inputs} of {settings.topic_sales_updated}: it must be co-partitioned"
        )
