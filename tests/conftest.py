"""Shared fixtures: a real Kafka broker for the session, a fresh topic per test.

The broker comes from, in order: ``KAFKA_BOOTSTRAP_SERVERS``; the local broker of
``deploy/local/kafka`` (started here when Java and Maven exist, stopped after); testcontainers'
Kafka where a Docker daemon answers. With none of them a Kafka test fails: it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from service.devkit.kafka_local import LocalKafka, free_port_pair

pytest_plugins = ["tests.emulator_fixtures"]

REPO = Path(__file__).resolve().parents[1]
TopicFactory = Callable[..., Awaitable[str]]


def _docker_answers() -> bool:
    try:
        import docker  # noqa: PLC0415 - optional, only where Docker exists

        docker.from_env().ping()
    except Exception:  # noqa: BLE001 - no daemon, no client, no permission: all mean "no"
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real broker for the whole session."""
    explicit = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if explicit:
        yield explicit
        return
    if shutil.which("java") and shutil.which("mvn"):
        broker = LocalKafka(home=REPO / ".kafka" / f"pytest-{os.getpid()}", port=free_port_pair())
        broker.start()
        try:
            yield broker.bootstrap
        finally:
            broker.stop()
            shutil.rmtree(broker.home, ignore_errors=True)
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer  # noqa: PLC0415

        with KafkaContainer() as container:
            yield container.get_bootstrap_server()
        return
    pytest.fail("no Kafka: set KAFKA_BOOTSTRAP_SERVERS, install Java 17 + Maven, or run Docker")


@pytest.fixture
async def admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client on the session broker."""
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def new_topic(admin: AIOKafkaAdminClient) -> TopicFactory:
    """Create a uniquely named topic for this test: ``await new_topic(partitions=3)``."""

    async def create(prefix: str = "t", partitions: int = 1, compacted: bool = False) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        configs = {"cleanup.policy": "compact"} if compacted else {}
        await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, topic_configs=configs)]
        )
        return name

    return create
