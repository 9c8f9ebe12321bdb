"""Benchmark 1, ingest: io-bridge against a bare aiokafka consumer on the same input topic.

    .venv/bin/python -m bench.bench_ingest [--tenants 1000] [--datasets 100] [--repeats 3]
                                           [--e2e 1] [--e2e-tenants 100]

Workload: one topic of 6 partitions holding ``tenants × datasets`` small sales-updated events
(plain JSON, keyed by tenantId, one event per dataset, three priced transactions over ~12 weeks;
100,000 events of ~340 bytes by default), produced once before the runs.

* **bare**: an ``AIOKafkaConsumer`` in a fresh group with io-bridge's consumer settings
  (``max_poll_records=500``, 4 MiB partition fetch, read_committed): ``getmany`` and
  ``json.loads`` of every value, nothing else.
* **io-bridge consumption**: an in-process ``serve()`` (fresh group and output/state topics,
  default settings except ``batch_linger_seconds=3600`` so that no run starts inside the
  window) with the in-process emulator (``httpx.ASGITransport``, ``job_seconds=0``). Consumed =
  ``io_bridge_events_consumed_total``: a record is counted just before it is decoded, validated
  and added to its batch, all without an await, so when the sampler (every 10 ms, on the same
  loop) sees the count, those records are validated and batched.
* **io-bridge end-to-end**: default settings (linger 5 s, polling 0.5→10 s, client rate limit
  50/s), ``--e2e-tenants × datasets`` events (5,000 by default: the in-process emulator trains
  and predicts every dataset in the same process, so 100,000 would not fit the time budget),
  until every event has come out as prediction-ready (or dataset-failed):
  ``events_published_total{type="prediction-ready"}`` + ``datasets_failed_total``.

Rates count from the first record seen (counter > 0 / first non-empty ``getmany``), so the
group join and topic checks (reported apart) are not in them; that first batch is subtracted.
Bare and io-bridge runs alternate and the ratio is taken per pair (same machine load). CPU µs
per event is this process's CPU time over the same window (less sensitive to other load).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from bench import _common as c
from emulator import EmulatorConfig, create_app
from service.bootstrap import serve
from service.config import Settings
from service.metrics import Metrics

PARTITIONS = 6
EMULATOR_ROOT = "http://io-emulator.bench"


def bench_settings(bootstrap: str, topic: str, root: str, **overrides: Any) -> Settings:
    """Default service settings on fresh group/output/state topics; only plumbing overridden."""
    t = c.tag()
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "group_id": f"bench-{t}",
        "topic_sales_updated": topic,
        "topic_prediction_ready": f"bench-pred-{t}",
        "topic_classification_ready": f"bench-class-{t}",
        "topic_dataset_failed": f"bench-failed-{t}",
        "topic_dlq": f"{topic}.dlq-{t}",
        "topic_state": f"bench-state-{t}",
        "topic_partitions": PARTITIONS,
        "io_base_url": f"{root}/io",
        "io_token_url": f"{root}/connect/token",
        "http_host": "127.0.0.1",
        "http_port": 0,
        "log_format": "json",
        **overrides,
    }
    return Settings(**values)


async def prepare_topic(bootstrap: str, tenants: int, datasets: int) -> dict[str, Any]:
    topic = f"bench-sales-{c.tag()}"
    await c.create_topic(bootstrap, topic, PARTITIONS)
    began = time.perf_counter()
    size = 0

    def records() -> Any:
        nonlocal size
        for key, value, partition in c.grid_events(tenants, datasets):
            size += len(value)
            yield key, value, partition

    count = await c.produce_bulk(bootstrap, topic, records())
    return {
        "topic": topic,
        "events": count,
        "bytes": size,
        "produce_seconds": time.perf_counter() - began,
    }


async def bare_run(bootstrap: str, topic: str, events: int) -> dict[str, float]:
    """getmany + json.loads of each value until ``events`` records were read."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{c.tag()}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=500,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    started = time.perf_counter()
    await consumer.start()
    seen = first = 0
    t_first = t_last = cpu_first = 0.0
    try:
        while seen < events:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    json.loads(record.value)
                seen += len(records)
            if seen and not first:
                first, t_first, cpu_first = seen, time.perf_counter(), time.process_time()
        t_last, cpu_last = time.perf_counter(), time.process_time()
    finally:
        await consumer.stop()
    return {
        "events_per_second": (seen - first) / (t_last - t_first),
        "cpu_us_per_event": (cpu_last - cpu_first) / (seen - first) * 1e6,
        "seconds": t_last - t_first,
        "startup_seconds": t_first - started,
    }


async def bridge_run(
    bootstrap: str,
    topic: str,
    events: int,
    *,
    e2e: bool,
    log_path: Path,
    emulator_root: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """One io-bridge in this process over the topic: consumption (and end-to-end) rate.

    The window opens when every partition is restored (``io_bridge_partitions_assigned``):
    partitions restore one after the other, and the first ones are read meanwhile, so opening
    at the first record would count restore time as consumption. The emulator is in-process
    (``job_seconds=0``) unless ``emulator_root`` names a served one.
    """
    app = None if emulator_root else create_app(EmulatorConfig(job_seconds=0))
    root = emulator_root or EMULATOR_ROOT
    transport = httpx.ASGITransport(app=app) if app is not None else None
    http = httpx.AsyncClient(transport=transport, base_url=root)
    settings = bench_settings(bootstrap, topic, root, **overrides)
    metrics = Metrics(CollectorRegistry())
    stop = asyncio.Event()
    out: dict[str, Any] = {}
    with c.logs_to(log_path):
        started = time.perf_counter()
        task = asyncio.create_task(
            serve(settings, stop, metrics=metrics, io_http=http if app is not None else None)
        )
        try:

            def alive() -> None:
                if task.done():
                    task.result()  # surface a crash instead of waiting for the timeout

            def restored() -> bool:
                alive()
                return c.metric_value(metrics.partitions_assigned) >= PARTITIONS

            def consumed() -> float:
                alive()
                return c.metric_value(metrics.events_consumed, "_total")

            t_first = await c.wait_for(restored, 120, what="partitions restored")
            wall_first, cpu_first, first = time.time(), time.process_time(), consumed()
            t_all = await c.wait_for(lambda: consumed() >= events, 600, what="all consumed")
            cpu_all = time.process_time()
            out = {
                "events_per_second": (events - first) / (t_all - t_first),
                "cpu_us_per_event": (cpu_all - cpu_first) / (events - first) * 1e6,
                "seconds": t_all - t_first,
                "startup_seconds": t_first - started,
                "read_during_restore": first,
            }
            if e2e:
                out |= await _end_to_end(bootstrap, settings, metrics, events, alive)
                out["e2e_seconds"] -= wall_first
                out["e2e_events_per_second"] = events / out["e2e_seconds"]
                out["e2e_cpu_us_per_event"] = (time.process_time() - cpu_first) / events * 1e6
                stats = (await http.get(f"{root}/_emulator/stats")).json()
                out["api_calls"] = sum(
                    n for codes in stats["calls"].values() for n in codes.values()
                )
        finally:
            stopped = await c.stop_service(task, stop)
            await http.aclose()
            if app is not None:
                await app.aclose()
    if stopped:
        out["shutdown_error"] = stopped
    return out


async def _end_to_end(
    bootstrap: str, settings: Settings, metrics: Metrics, events: int, alive: Any
) -> dict[str, float]:
    """Wait for every event's outcome; the unix time the last prediction-ready hit the topic."""

    def finished() -> bool:
        alive()
        built = c.metric_value(metrics.events_published, "_total", type="prediction-ready")
        return built + c.metric_value(metrics.datasets_failed, "_total") >= events

    # The counter moves when events are built, before their publish is acknowledged: it only
    # says when to look. The topic is the truth, read while the service still runs.
    await c.wait_for(finished, 1800, 0.05, "all outputs")
    failed = c.metric_value(metrics.datasets_failed, "_total")
    got = await c.read_topic(bootstrap, settings.topic_prediction_ready, int(events - failed), 300)
    return {"e2e_seconds": max(at for _, at in got), "failed": failed, "outputs": len(got)}


async def measure(
    bootstrap: str, tenants: int, datasets: int, repeats: int, e2e_tenants: int, e2e_repeats: int
) -> dict[str, Any]:
    prepared = await prepare_topic(bootstrap, tenants, datasets)
    topic, events = prepared["topic"], prepared["events"]
    await bare_run(bootstrap, topic, events)  # warm-up: page cache, broker
    bare: list[dict[str, float]] = []
    bridge: list[dict[str, float]] = []
    for n in range(repeats):
        # Each run starts from a clean heap, as a fresh process would: the previous run's
        # garbage (an io-bridge leaves 100,000 batched events in reference cycles) is not left
        # for this run's collections to walk.
        gc.collect()
        bare.append(await bare_run(bootstrap, topic, events))
        log = c.OUT / f"ingest-consume-{n}.log"
        gc.collect()
        # No run may start inside the window: only fetch, decode, validate and batch count.
        bridge.append(
            await bridge_run(
                bootstrap, topic, events, e2e=False, log_path=log, batch_linger_seconds=3600.0
            )
        )
        print(
            f"  repeat {n + 1}: bare {bare[-1]['events_per_second']:,.0f}/s, io-bridge "
            f"{bridge[-1]['events_per_second']:,.0f}/s",
            file=sys.stderr,
        )
    e2e: list[dict[str, float]] = []
    e2e_workload: dict[str, Any] | None = None
    if e2e_repeats:
        small = await prepare_topic(bootstrap, e2e_tenants, datasets)
        e2e_workload = {k: v for k, v in small.items() if k != "topic"}
        for n in range(e2e_repeats):
            log = c.OUT / f"ingest-e2e-{n}.log"
            e2e.append(
                await bridge_run(bootstrap, small["topic"], small["events"], e2e=True, log_path=log)
            )
            print(
                f"  end-to-end {n + 1}: {e2e[-1]['e2e_events_per_second']:,.0f}/s",
                file=sys.stderr,
            )
    ratios = [
        b["events_per_second"] / r["events_per_second"] for r, b in zip(bare, bridge, strict=True)
    ]
    cpu_ratios = [
        r["cpu_us_per_event"] / b["cpu_us_per_event"] for r, b in zip(bare, bridge, strict=True)
    ]
    return {
        "workload": {
            "tenants": tenants,
            "datasets_per_tenant": datasets,
            "events": events,
            "partitions": PARTITIONS,
            "mean_event_bytes": prepared["bytes"] / events,
            "produce_seconds": prepared["produce_seconds"],
        },
        "repeats": repeats,
        "bare": {
            "events_per_second": c.spread([r["events_per_second"] for r in bare]),
            "cpu_us_per_event": c.spread([r["cpu_us_per_event"] for r in bare]),
            "startup_seconds": c.spread([r["startup_seconds"] for r in bare]),
        },
        "bridge": {
            "events_per_second": c.spread([b["events_per_second"] for b in bridge]),
            "cpu_us_per_event": c.spread([b["cpu_us_per_event"] for b in bridge]),
            "startup_seconds": c.spread([b["startup_seconds"] for b in bridge]),
        },
        "ratio": c.spread(ratios),
        "cpu_ratio": c.spread(cpu_ratios),
        "ratio_target": 0.5,
        "e2e": {
            "workload": e2e_workload,
            "repeats": len(e2e),
            "consume_events_per_second": c.spread([b["events_per_second"] for b in e2e]),
            "events_per_second": c.spread([b["e2e_events_per_second"] for b in e2e]),
            "cpu_us_per_event": c.spread([b["e2e_cpu_us_per_event"] for b in e2e]),
            "seconds": c.spread([b["e2e_seconds"] for b in e2e]),
            "failed": [b["failed"] for b in e2e],
            "api_calls": [b["api_calls"] for b in e2e],
        }
        if e2e
        else None,
    }


def report(result: dict[str, Any]) -> None:
    c.banner("Ingest: io-bridge vs bare aiokafka consumer", result)
    w = result["workload"]
    print(
        f"workload: {w['events']:,} sales-updated events ({w['tenants']:,} tenants × "
        f"{w['datasets_per_tenant']} datasets, ~{w['mean_event_bytes']:.0f} B each), "
        f"{w['partitions']} partitions; {result['repeats']} alternating repeats; "
        "median (min – max)"
    )
    rows = [
        [
            "bare aiokafka (getmany + json.loads)",
            c.fmt_spread(result["bare"]["events_per_second"]),
            c.fmt_spread(result["bare"]["cpu_us_per_event"]),
            c.fmt_spread(result["bare"]["startup_seconds"], 1),
        ],
        [
            "io-bridge consumption (validate + batch)",
            c.fmt_spread(result["bridge"]["events_per_second"]),
            c.fmt_spread(result["bridge"]["cpu_us_per_event"]),
            c.fmt_spread(result["bridge"]["startup_seconds"], 1),
        ],
    ]
    e = result["e2e"]
    if e:
        n = e["workload"]["events"]
        rows.append(
            [
                f"io-bridge end-to-end, {n:,} events (n={e['repeats']})",
                c.fmt_spread(e["events_per_second"]),
                c.fmt_spread(e["cpu_us_per_event"]),
                "",
            ]
        )
    c.table("", ["path", "events/s", "CPU µs/event", "start-up s"], rows)
    r, cr = result["ratio"], result["cpu_ratio"]
    verdict = "met" if r["median"] >= result["ratio_target"] else "NOT met"
    print(
        f"\n  ratio io-bridge/bare events/s (per pair): {r['median']:.2f} "
        f"({r['min']:.2f} – {r['max']:.2f}); target ≥ {result['ratio_target']}: {verdict}"
        f"\n  ratio by CPU per event (bare/io-bridge): {cr['median']:.2f} "
        f"({cr['min']:.2f} – {cr['max']:.2f})"
    )
    if e:
        print(
            f"  end-to-end: in-process emulator (job_seconds=0) sharing the process and GIL, "
            f"default settings; {c.fmt_spread(e['seconds'], 1)} s until the last "
            f"prediction-ready; dataset-failed {e['failed']}; API calls {e['api_calls']}"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = c.parser("bench_ingest", __doc__)
    p.add_argument("--tenants", type=int)
    p.add_argument("--datasets", type=int, default=100)
    p.add_argument("--e2e", type=int, help="end-to-end runs (default 1)")
    p.add_argument("--e2e-tenants", type=int, help="tenants of the end-to-end workload")
    args = p.parse_args(argv)
    tenants = args.tenants or (100 if args.quick else 1000)
    repeats = args.repeats or (1 if args.quick else 3)
    e2e = args.e2e if args.e2e is not None else 1
    e2e_tenants = args.e2e_tenants or (10 if args.quick else 50)
    return c.run_on_broker(
        "ingest",
        args,
        lambda bootstrap: asyncio.run(
            measure(bootstrap, tenants, args.datasets, repeats, e2e_tenants, e2e)
        ),
        report,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
