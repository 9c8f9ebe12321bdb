"""Shared pieces of the io-bridge benchmarks: the bench broker, the workload, statistics, tables.

Every benchmark module (``bench/bench_<name>.py``) takes ``--bootstrap HOST:PORT`` (a broker the
runner started) or starts its own :class:`~service.devkit.kafka_local.LocalKafka` under
``.kafka/bench`` on a free port pair, and stops it after. ``--json PATH`` writes the returned
dict; ``--quick`` shrinks the workload to a smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from service.devkit.kafka_local import LocalKafka, free_port_pair
from service.logs import configure_logging

REPO = Path(__file__).resolve().parents[1]
# Absolute: the launcher hands ``home`` to mvn, which resolves relative paths against the POM.
BENCH_HOME = REPO / ".kafka" / "bench"
OUT = REPO / "bench" / "out"


# ---------------------------------------------------------------- machine and statistics
def machine() -> dict[str, Any]:
    """What the numbers ran on: cores, Python, load average at the time of asking."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and the values themselves."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "values": list(values),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) by linear interpolation between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def fmt_spread(s: dict[str, Any], digits: int = 0, unit: str = "") -> str:
    """``median (min – max)`` with ``digits`` decimals."""
    f = f"{{:,.{digits}f}}"
    return f"{f.format(s['median'])}{unit} ({f.format(s['min'])} – {f.format(s['max'])})"


def table(title: str, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Print a plain column table (the style of ``bench_client``): first column left."""
    body = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in body) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(body):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  " + "  ".join(cells).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def banner(name: str, result: dict[str, Any]) -> None:
    """The line every table starts with: benchmark, cores, Python, load average."""
    m = result["machine"]
    load = ", ".join(f"{x:.2f}" for x in m["loadavg"])
    after = result.get("loadavg_after")
    tail = f" → {', '.join(f'{x:.2f}' for x in after)}" if after else ""
    print(f"\n== {name} — {m['cores']} cores, Python {m['python']}, load avg {load}{tail}")


def metric_value(collector: Any, suffix: str = "", **labels: str) -> float:
    """Sum of a collector's samples named ``<name><suffix>`` whose labels include ``labels``
    (``_total`` for counters, ``""`` for gauges, ``_sum``/``_count`` for histograms). Cheap:
    collects this one metric only, not the whole registry."""
    total = 0.0
    for metric in collector.collect():
        for sample in metric.samples:
            if sample.name == metric.name + suffix and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                total += sample.value
    return total


WEBHOOK_KEY = "bench-webhook-key"  # a throwaway key between two local endpoints


def webhooks_available() -> bool:
    """Whether this checkout's service has the webhook fast path (``Settings.webhook_*``)."""
    from service.config import Settings  # noqa: PLC0415 - only this check needs it

    return "webhook_public_url" in Settings.model_fields


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# ---------------------------------------------------------------- broker
@contextlib.contextmanager
def bench_broker(bootstrap: str | None) -> Iterator[str]:
    """``bootstrap`` if given, else a fresh broker under ``.kafka/bench`` for the block."""
    if bootstrap:
        yield bootstrap
        return
    broker = LocalKafka(home=BENCH_HOME, port=free_port_pair())
    seconds = broker.start()
    print(f"bench broker {broker.bootstrap} started in {seconds:.1f}s", file=sys.stderr)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def tag() -> str:
    return uuid.uuid4().hex[:10]


async def create_topic(bootstrap: str, name: str, partitions: int, **config: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, partitions, replication_factor=1, topic_configs=config or None)]
        )
    finally:
        await admin.close()


async def produce_bulk(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None, int | None]],
    *,
    window: int = 20_000,
) -> int:
    """Send (key, value, partition) records fast (linger, bounded in-flight window); count."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    sent = 0
    pending: list[asyncio.Future[Any]] = []
    try:
        for key, value, partition in records:
            pending.append(await producer.send(topic, value, key=key, partition=partition))
            sent += 1
            if len(pending) >= window:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


async def produce_batched(
    bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes, int]]
) -> int:
    """Send (key, value, partition) records in producer-built batches (``create_batch`` /
    ``send_batch``): several times faster than one ``send`` per record for bulk loads."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, max_request_size=4 * 1024 * 1024
    )
    await producer.start()
    batches: dict[int, Any] = {}
    pending: list[asyncio.Future[Any]] = []
    sent = 0
    try:
        for key, value, partition in records:
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                pending.append(await producer.send_batch(batch, topic, partition=partition))
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
            sent += 1
            if len(pending) >= 64:
                await asyncio.gather(*pending)
                pending.clear()
        for partition, batch in batches.items():
            if batch.record_count():
                pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


# ---------------------------------------------------------------- the workload
def day(offset: int) -> str:
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=offset)).isoformat()


def sales_event(tenant: str, dataset: str, *, priced: bool = True) -> bytes:
    """A small sales-updated v1 (plain JSON): three transactions spread over ~12 weeks.

    Enough history for the emulator to train a weekly model (8 complete periods), so every
    event can end as prediction-ready.
    """
    txns = [
        {"transactionId": f"{dataset}-{n}", "departureDate": day(ago), "quantity": float(n + 1)}
        for n, ago in enumerate((85, 40, 3))
    ]
    if priced:
        for t in txns:
            t["unitPrice"] = 12.5
    body = {"tenantId": tenant, "datasetId": dataset, "transactions": txns}
    return json.dumps(body, separators=(",", ":")).encode()


def tenant_name(i: int) -> str:
    return f"tenant-{i:05d}"


def dataset_name(j: int) -> str:
    return f"sku-{j:04d}"


def grid_events(
    tenants: int, datasets: int, *, first_tenant: int = 0, priced: bool = True
) -> Iterator[tuple[bytes, bytes, None]]:
    """One event per dataset, datasets interleaved across tenants (as ERPs publish)."""
    for j in range(datasets):
        for i in range(first_tenant, first_tenant + tenants):
            tenant = tenant_name(i)
            yield tenant.encode(), sales_event(tenant, dataset_name(j), priced=priced), None


# ---------------------------------------------------------------- logs, waiting
@contextlib.contextmanager
def logs_to(path: Path, level: str = "info") -> Iterator[None]:
    """The service's production log pipeline (JSON lines, redaction) into ``path`` for the
    block; warnings and errors to stderr after it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as stream:
        configure_logging("json", level, stream)
        try:
            yield
        finally:
            configure_logging("json", "warning", sys.stderr)


async def read_topic(
    bootstrap: str, topic: str, count: int, timeout_s: float
) -> list[tuple[bytes, float]]:
    """(value, CreateTime in unix seconds) of the topic's records, from the start, until
    ``count`` were read or the timeout passed (then what was read, with a warning)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    out: list[tuple[bytes, float]] = []
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while len(out) < count:
                    for records in (await consumer.getmany(timeout_ms=200)).values():
                        out += [(r.value, r.timestamp / 1000) for r in records]
    finally:
        await consumer.stop()
    if len(out) < count:
        print(f"  warning: {len(out)} of {count} records in {topic}", file=sys.stderr)
    return out


async def stop_service(task: asyncio.Task[None], stop: asyncio.Event, timeout_s: float = 60) -> str:
    """Set ``stop`` and wait for ``serve()`` to end. An exception it ends with (a shutdown bug,
    not part of what is measured) is printed and returned as text; "" when it stopped cleanly."""
    stop.set()
    try:
        await asyncio.wait_for(task, timeout_s)
    except Exception as exc:  # noqa: BLE001 - reported with the result, not fatal to it
        print(f"  warning: the service failed while stopping: {exc!r}", file=sys.stderr)
        return repr(exc)
    return ""


async def wait_for(
    check: Callable[[], bool], timeout_s: float, every_s: float = 0.01, what: str = "condition"
) -> float:
    """Poll ``check`` until true; return the ``time.perf_counter()`` when it first was."""
    deadline = time.perf_counter() + timeout_s
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s:.0f}s")
        await asyncio.sleep(every_s)
    return time.perf_counter()


# ---------------------------------------------------------------- CLI
def parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    p = argparse.ArgumentParser(prog=f"bench.{name}", description=(doc or "").split("\n")[0])
    p.add_argument("--bootstrap", help="use this broker instead of starting one")
    p.add_argument("--quick", action="store_true", help="a small smoke version")
    p.add_argument("--repeats", type=int, help="runs per measurement (default per benchmark)")
    p.add_argument("--json", type=Path, help="also write the result dict here")
    return p


def run_on_broker(
    name: str,
    args: argparse.Namespace,
    measure: Callable[[str], dict[str, Any]],
    report: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """One benchmark's run: ``measure(bootstrap)`` on ``args.bootstrap`` or a broker of its own,
    stamped with the machine and the wall time, written to ``args.json``, then reported."""
    started = time.perf_counter()
    result: dict[str, Any] = {"benchmark": name, "machine": machine()}
    with bench_broker(args.bootstrap) as bootstrap:
        result |= measure(bootstrap)
    result["wall_seconds"] = time.perf_counter() - started
    finish(result, args.json)
    report(result)
    return result


def finish(result: dict[str, Any], path: Path | None) -> dict[str, Any]:
    """Stamp the load average after the run; write ``path`` when given."""
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result
