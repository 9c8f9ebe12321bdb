"""``io-bridge tail TOPIC``: print a topic's records, headers and pretty JSON, as they arrive.

Reads every partition without a consumer group (it never takes partitions from io-bridge or
commits offsets), from the end by default or the beginning with ``--from-beginning``; stops after
``--max`` records, ``--idle-timeout`` quiet seconds, or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import json
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer
from rich.console import Console

from service.config import Settings
from service.devkit.demo_outcomes import Received


class TopicMissingError(RuntimeError):
    """The topic does not exist (tail never creates one)."""


def body_text(value: bytes | None) -> str:
    """The body as indented JSON, else as text, else base64 (DLQ records keep raw bytes)."""
    if value is None:
        return "(no value: tombstone)"
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(value).decode("ascii")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def format_record(record: Received) -> str:
    """A record as a block: coordinates, key, time, one line per header, then the body."""
    when = dt.datetime.fromtimestamp(record.timestamp_ms / 1000, dt.UTC).isoformat()
    key = record.key.decode("utf-8", "replace") if record.key is not None else "(none)"
    lines = [f"{record.topic}[{record.partition}]@{record.offset}  key={key}  {when}"]
    lines += [f"  {name}: {value.decode('utf-8', 'replace')}" for name, value in record.headers]
    lines.append(body_text(record.value))
    return "\n".join(lines)


async def tail(
    bootstrap: str,
    topic: str,
    show: Callable[[Received], None],
    *,
    from_beginning: bool = False,
    max_records: int | None = None,
    idle_timeout: float | None = None,
) -> int:
    """Hand each record of ``topic`` to ``show``; return how many were shown."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            raise TopicMissingError(f"topic {topic} does not exist on {bootstrap}")
        consumer.subscribe([topic])
        return await _loop(consumer, topic, show, max_records, idle_timeout)
    finally:
        await consumer.stop()


async def _loop(
    consumer: AIOKafkaConsumer,
    topic: str,
    show: Callable[[Received], None],
    max_records: int | None,
    idle_timeout: float | None,
) -> int:
    shown = 0
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    while max_records is None or shown < max_records:
        batches = await consumer.getmany(timeout_ms=250)
        records = sorted(
            (r for rs in batches.values() for r in rs), key=lambda r: (r.timestamp, r.partition)
        )
        for r in records[: None if max_records is None else max_records - shown]:
            headers = tuple(r.headers)
            show(
                Received(
                    "other", topic, r.partition, r.offset, r.key, r.value, headers, r.timestamp
                )
            )
            shown += 1
        if records:
            quiet_since = loop.time()
        elif idle_timeout is not None and loop.time() - quiet_since >= idle_timeout:
            break
    return shown


def run(args: argparse.Namespace) -> int:
    """The ``io-bridge tail`` command."""
    settings = Settings()
    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    console = Console(highlight=True)

    def show(record: Received) -> None:
        console.print(format_record(record), markup=False, soft_wrap=True)
        console.print()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                tail(
                    bootstrap,
                    args.topic,
                    show,
                    from_beginning=args.from_beginning,
                    max_records=args.max,
                    idle_timeout=args.idle_timeout,
                )
            )
    except TopicMissingError as exc:
        console.print(f"tail: {exc}", markup=False)
        return 1
    return 0
