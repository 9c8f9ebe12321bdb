"""Helpers for tests that run io-bridge against the real broker and the emulator.

The service runs in-process (``service.bootstrap.serve`` as a task) or as a separate OS
process; inputs are produced and outputs read with plain aiokafka clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from service.adapters.kafka_admin import ensure_topics
from service.adapters.kafka_common import connection_config
from service.adapters.kafka_out import KafkaPublisher
from service.adapters.state_changelog import StateChangelog, dataset_key
from service.bootstrap import serve
from service.config import Settings
from service.domain.registry import DatasetRecord
from service.metrics import Metrics

REPO = Path(__file__).resolve().parents[1]

FAST = {
    "batch_linger_seconds": 0.5,
    "poll_first_seconds": 0.05,
    "poll_max_seconds": 0.3,
    "http_port": 0,
    "http_host": "127.0.0.1",
    "classification_interval_seconds": 3600.0,
    "shutdown_grace_seconds": 10.0,
    # A SIGKILLed member holds its partitions this long: short, so crash tests fail over fast.
    "kafka_session_timeout_seconds": 10.0,
    "io_backoff_base_seconds": 0.05,
    "io_backoff_max_seconds": 0.5,
}


def pipeline_settings(bootstrap: str, emulator_url: str, **overrides: Any) -> Settings:
    """Settings with unique topic names and a unique group, pointing at the emulator."""
    tag = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "group_id": f"iob-{tag}",
        "topic_sales_updated": f"sales-{tag}",
        "topic_prediction_ready": f"pred-{tag}",
        "topic_classification_ready": f"class-{tag}",
        "topic_dataset_failed": f"failed-{tag}",
        "topic_dlq": f"sales-{tag}.dlq",
        "topic_state": f"state-{tag}",
        "topic_partitions": 3,
        "io_base_url": f"{emulator_url}/io",
        "io_token_url": f"{emulator_url}/connect/token",
        **FAST,
        **overrides,
    }
    return Settings(**values)


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as IOB_* environment variables, for a service subprocess."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        env[f"IOB_{name.upper()}"] = str(raw).lower() if isinstance(raw, bool) else str(raw)
    return env


@dataclass
class InProcessService:
    settings: Settings
    metrics: Metrics = field(default_factory=lambda: Metrics(CollectorRegistry()))
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def counter(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels or None)
        return value or 0.0

    async def wait_assigned(self, timeout_s: float = 30.0) -> None:
        async with asyncio.timeout(timeout_s):
            while self.counter("io_bridge_partitions_assigned") < 1:
                await asyncio.sleep(0.05)
                if self.task is not None and self.task.done():
                    self.task.result()


@contextlib.asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[InProcessService]:
    """io-bridge in this event loop until the block ends (graceful stop)."""
    service = InProcessService(settings)
    service.task = asyncio.create_task(serve(settings, service.stop, metrics=service.metrics))
    try:
        await service.wait_assigned()
        yield service
    finally:
        service.stop.set()
        await asyncio.wait_for(service.task, 30)


class ServiceProcess:
    """io-bridge as a separate OS process (``python -m service``), killable with SIGKILL."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.env = {**os.environ, **settings_env(settings), "IOB_LOG_FORMAT": "json"}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL if it does not stop in time (then return its status)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise


async def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes, list[tuple[str, bytes]]]],
) -> list[tuple[int, int]]:
    """Send (key, value, headers) records; return (partition, offset) of each, in order."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=4 * 1024 * 1024
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=headers)
            for key, value, headers in records
        ]
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in metas]


@dataclass
class Collected:
    key: bytes | None
    value: dict[str, Any]
    headers: dict[str, bytes]
    topic: str


async def collect(
    bootstrap: str,
    topics: list[str],
    done: Callable[[Mapping[str, list[Collected]]], bool],
    timeout_s: float,
    *,
    read_committed: bool = False,
) -> dict[str, list[Collected]]:
    """Read the topics from the start until ``done(seen)`` or the timeout; return what was seen."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        isolation_level="read_committed" if read_committed else "read_uncommitted",
        metadata_max_age_ms=1000,
    )
    seen: dict[str, list[Collected]] = {t: [] for t in topics}
    await consumer.start()
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not done(seen):
                    for tp, recs in (await consumer.getmany(timeout_ms=200)).items():
                        seen[tp.topic] += [_collected(tp.topic, r) for r in recs]
    finally:
        await consumer.stop()
    return seen


def _collected(topic: str, record: Any) -> Collected:
    try:
        value = json.loads(record.value) if record.value is not None else {}
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        value = {"_raw": record.value.decode("latin-1")}
    return Collected(record.key, value, dict(record.headers), topic)


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout_s: float, every_s: float = 0.05
) -> None:
    """Wait until ``check()`` is true, polling (the state lives in another process), or raise
    TimeoutError."""
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - polling another process's state
            await asyncio.sleep(every_s)


async def prefill_changelog(settings: Settings, per_partition: int) -> None:
    """Create the service's topics and write ``per_partition`` dataset records to every
    changelog partition, in the service's own changelog encoding (a restore of seconds at
    tens of thousands)."""
    connection = connection_config(settings)
    await ensure_topics(settings, connection)
    publisher = KafkaPublisher(connection)
    changelog = StateChangelog(publisher, connection, settings.topic_state)
    await publisher.start()
    try:
        for partition in range(settings.topic_partitions):
            records = [
                DatasetRecord(f"tenant-{partition}", f"sku-{n:06d}", "W", 12, 1.0e9, True)
                for n in range(per_partition)
            ]
            await changelog.write([changelog.record(partition, dataset_key(r), r) for r in records])
    finally:
        await publisher.stop()
