"""Benchmark 2, API economy: IO API calls per 10,000 events, io-bridge vs naive vs the minimum.

    .venv/bin/python -m bench.bench_api [--tenants 20] [--datasets 100] [--repeats 2]

Workload: ``tenants × datasets`` small priced sales-updated events (one per dataset; 2,000 by
default, every figure scaled to 10,000 events) on a 6-partition topic; io-bridge in-process
with default settings (batches of up to 500 datasets, linger 5 s, polling 0.5 s doubling to
10 s) against the in-process emulator, until every event has come out as prediction-ready and
every dataset as classification-ready. Calls are the emulator's own counts
(``GET /_emulator/stats``), by operation; io-bridge's include its classification runs.

Variants: ``job_seconds=0`` (a job is done by the first poll unless the emulator is still
computing); ``job_seconds=2`` (polling backoff costs polls: at 0.5, 1.5 and 3.5 s); the same with
the webhook fast path (the emulator calls the service's ``/webhooks/io`` over HTTP on
127.0.0.1), with default polling and with ``IOB_POLL_FIRST_SECONDS=10`` (polls as a fallback).

* **minimum** the batch limits allow: each (tenant, partition) needs
  ⌈datasets / IOB_BATCH_MAX_DATASETS⌉ batches; a batch needs presigned URL + upload + start
  trainer + create prediction + results and one status poll per job (3 jobs) = 8 calls; each
  tenant's classification needs start + 1 poll + results = 3; plus one token.
* **naive**: a client that uploads and runs jobs for every event on its own (presigned, upload,
  poll, start trainer, poll, create prediction, poll, results; same polling schedule, no
  classification), measured on a sample of events against a fresh emulator with the same job
  timing and scaled to 10,000. Its protocol minimum is 8 calls per event (80,000 per 10,000).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bench import _common as c
from bench.bench_ingest import EMULATOR_ROOT, PARTITIONS, bench_settings
from emulator import EmulatorConfig, create_app
from schemas import io_api
from service.adapters.io_api import IoApiClient, IoApiClientConfig
from service.bootstrap import serve
from service.domain.runs import Plan
from service.metrics import Metrics
from service.outputs import prediction_request, trainer_request

PER_EVENT_NAIVE_MIN = 8


def calls_by_op(stats: dict[str, Any]) -> dict[str, int]:
    return {op: sum(codes.values()) for op, codes in stats["calls"].items()}


async def bridge_run(
    bootstrap: str,
    tenants: int,
    datasets: int,
    job_seconds: float,
    log_path: Path,
    *,
    webhook: bool = False,
    poll_first_seconds: float | None = None,
    linger_seconds: float | None = None,
) -> dict[str, Any]:
    """io-bridge over ``tenants × datasets`` events until all outputs are out; the call counts.

    ``webhook``: the service's fast path on; the in-process emulator then calls the service's
    ``/webhooks/io`` over real HTTP on 127.0.0.1.
    """
    topic = f"bench-api-{c.tag()}"
    await c.create_topic(bootstrap, topic, PARTITIONS)
    events = await c.produce_bulk(bootstrap, topic, c.grid_events(tenants, datasets))
    app = create_app(EmulatorConfig(job_seconds=job_seconds))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=EMULATOR_ROOT)
    overrides: dict[str, Any] = {}
    if webhook:
        port = c.free_port()
        overrides = {
            "http_port": port,
            "webhook_public_url": f"http://127.0.0.1:{port}/webhooks/io",
            "webhook_api_key": c.WEBHOOK_KEY,
        }
    if poll_first_seconds is not None:
        overrides["poll_first_seconds"] = poll_first_seconds
    if linger_seconds is not None:
        overrides["batch_linger_seconds"] = linger_seconds
    settings = bench_settings(bootstrap, topic, EMULATOR_ROOT, **overrides)
    metrics = Metrics(CollectorRegistry())
    stop = asyncio.Event()
    with c.logs_to(log_path):
        task = asyncio.create_task(serve(settings, stop, metrics=metrics, io_http=http))
        started = time.perf_counter()
        try:

            def built(kind: str) -> float:
                if task.done():
                    task.result()
                return c.metric_value(metrics.events_published, "_total", type=kind)

            def done() -> bool:
                failed = c.metric_value(metrics.datasets_failed, "_total")
                return (
                    built("prediction-ready") + failed >= events
                    and built("classification-ready") + failed >= events
                )

            await c.wait_for(done, 900, 0.1, "all outputs")
            failed = c.metric_value(metrics.datasets_failed, "_total")
            for topic_out in (settings.topic_prediction_ready, settings.topic_classification_ready):
                await c.read_topic(bootstrap, topic_out, int(events - failed), 120)
            seconds = time.perf_counter() - started
            await asyncio.sleep(1.0)  # let the last DONE transitions land
            stats = (await http.get(f"{EMULATOR_ROOT}/_emulator/stats")).json()
            flushed = c.metric_value(metrics.batches_flushed, "_total")
        finally:
            stopped = await c.stop_service(task, stop)
            await http.aclose()
            await app.aclose()
    return {
        "events": events,
        "seconds": seconds,
        "calls": calls_by_op(stats),
        "jobs_started": stats["jobs_started"],
        "batches": flushed,
        "failed": failed,
        "shutdown_error": stopped,
    }


async def naive_run(events: int, job_seconds: float, poll_first: float, poll_max: float) -> Any:
    """A client that handles each event alone: upload, validate, train, predict, fetch."""
    app = create_app(EmulatorConfig(job_seconds=job_seconds))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=EMULATOR_ROOT)
    config = IoApiClientConfig(
        f"{EMULATOR_ROOT}/io",
        f"{EMULATOR_ROOT}/connect/token",
        "machine-learning-factory-api-stage:io",
        "io-bridge-local",
        SecretStr("io-bridge-local-secret"),
        timeout=30.0,
        max_retries=3,
        max_concurrency=64,
        rate_limit_per_second=None,
    )
    today = dt.datetime.now(dt.UTC).date()

    async def poll(io: IoApiClient, tenant: str, job_id: str) -> None:
        wait = poll_first
        while True:
            await asyncio.sleep(wait)
            if (await io.get_status(tenant, job_id)).status != "inProgress":
                return
            wait = min(wait * 2, poll_max)

    async def one(io: IoApiClient, n: int) -> None:
        tenant, dataset = c.tenant_name(n % 100), c.dataset_name(n)
        txns = tuple(
            io_api.Transaction(
                transaction_id=f"{dataset}-{k}",
                departure_date=today - dt.timedelta(days=ago),
                quantity=float(k + 1),
                unit_price=12.5,
            )
            for k, ago in enumerate((85, 40, 3))
        )
        presigned = await io.get_presigned_url(tenant)
        body = io_api.UploadBody(
            datasets=(io_api.UploadDataset(dataset_id=dataset, transactions=txns),)
        )
        await io.upload(presigned, body)
        await poll(io, tenant, presigned.job_id)
        plan = Plan(dataset, "W", 12, train=True)
        await poll(io, tenant, (await io.start_trainer(tenant, trainer_request([plan]))).job_id)
        predict = prediction_request([plan], 0.95)
        job = (await io.create_prediction(tenant, predict)).job_id
        await poll(io, tenant, job)
        await io.get_results(tenant, job)

    try:
        async with IoApiClient(config, http) as io, asyncio.TaskGroup() as group:
            for n in range(events):
                group.create_task(one(io, n))
        stats = (await http.get(f"{EMULATOR_ROOT}/_emulator/stats")).json()
    finally:
        await http.aclose()
        await app.aclose()
    return calls_by_op(stats)


def minimum(tenants: int, datasets: int, max_datasets: int) -> dict[str, int]:
    """What the batch limits allow: one tenant's datasets all land on one partition."""
    batches = tenants * math.ceil(datasets / max_datasets)
    polls = batches * 3 + tenants  # one per job: validation, training, prediction; classification
    other = batches * 5 + tenants * 2 + 1  # presigned, upload, 2 starts, results; start, results
    return {"batches": batches, "polls": polls, "other": other, "total": polls + other}


def split(calls: dict[str, int]) -> dict[str, int]:
    """Status polls, every other call, and the total."""
    polls = calls.get("status", 0)
    total = sum(calls.values())
    return {"polls": polls, "other": total - polls, "total": total}


VARIANTS: dict[str, dict[str, Any]] = {
    "job_seconds=0": {"job_seconds": 0.0},
    "job_seconds=2": {"job_seconds": 2.0},
    "job_seconds=2, webhooks": {"job_seconds": 2.0, "webhook": True},
    "job_seconds=2, webhooks, first poll 10 s": {
        "job_seconds": 2.0,
        "webhook": True,
        "poll_first_seconds": 10.0,
    },
}


async def measure(
    bootstrap: str,
    tenants: int,
    datasets: int,
    repeats: int,
    naive_sample: int,
    variants: list[str],
    linger_seconds: float | None = None,
) -> dict[str, Any]:
    events = tenants * datasets
    per = 10_000 / events
    least = minimum(tenants, datasets, 500)
    rows: dict[str, Any] = {}
    for name in variants:
        variant = VARIANTS[name]
        if variant.get("webhook") and not c.webhooks_available():
            rows[name] = {"available": False}
            continue
        runs = []
        for n in range(repeats):
            log = c.OUT / f"api-{n}-{len(rows)}.log"
            runs.append(
                await bridge_run(
                    bootstrap,
                    tenants,
                    datasets,
                    variant["job_seconds"],
                    log,
                    webhook=variant.get("webhook", False),
                    poll_first_seconds=variant.get("poll_first_seconds"),
                    linger_seconds=linger_seconds,
                )
            )
            print(
                f"  {name} repeat {n + 1}: {sum(runs[-1]['calls'].values())} calls in "
                f"{runs[-1]['seconds']:.0f}s",
                file=sys.stderr,
            )
        parts = [split(r["calls"]) for r in runs]
        rows[name] = {
            "available": True,
            "variant": variant,
            "runs": runs,
            "per_10k": {
                k: c.spread([p[k] * per for p in parts]) for k in ("polls", "other", "total")
            },
            "by_op_per_10k": {
                op: c.spread([r["calls"].get(op, 0) * per for r in runs])
                for op in sorted({op for r in runs for op in r["calls"]})
            },
            "batches": c.spread([r["batches"] * per for r in runs]),
            "ratio_total": c.spread([p["total"] / least["total"] for p in parts]),
            "ratio_other": c.spread([p["other"] / least["other"] for p in parts]),
            "seconds": c.spread([r["seconds"] for r in runs]),
        }
    naive: dict[str, Any] = {}
    for job_seconds in sorted({VARIANTS[v]["job_seconds"] for v in variants}):
        calls = await naive_run(naive_sample, job_seconds, 0.5, 10.0)
        counts = split(calls)
        naive[f"job_seconds={job_seconds:g}"] = {
            "sample_events": naive_sample,
            "calls": calls,
            "per_10k": {k: v * 10_000 / naive_sample for k, v in counts.items()},
        }
    return {
        "workload": {
            "tenants": tenants,
            "datasets_per_tenant": datasets,
            "events": events,
            "partitions": PARTITIONS,
            "batch_max_datasets": 500,
        },
        "repeats": repeats,
        "minimum_per_10k": {k: v * per for k, v in least.items()},
        "naive_protocol_min_per_10k": {
            "polls": 3 * 10_000,
            "other": 5 * 10_000,
            "total": PER_EVENT_NAIVE_MIN * 10_000,
        },
        "naive": naive,
        "rows": rows,
        "target_ratio": 1.1,
    }


def report(result: dict[str, Any]) -> None:
    c.banner("API economy: IO API calls per 10,000 events", result)
    w = result["workload"]
    print(
        f"workload: {w['events']:,} events ({w['tenants']} tenants × {w['datasets_per_tenant']} "
        f"datasets), {w['partitions']} partitions, IOB_BATCH_MAX_DATASETS={w['batch_max_datasets']}"
        f"; in-process emulator; {result['repeats']} repeats per io-bridge row, scaled to "
        "10,000 events; median (min – max)"
    )
    least = result["minimum_per_10k"]
    target = result["target_ratio"]

    def n(x: float) -> str:
        return f"{x:,.0f}"

    proto = result["naive_protocol_min_per_10k"]
    rows = [["naive, protocol minimum (no classify)", n(proto["total"]), n(proto["polls"]), "", ""]]
    for name, got in result["naive"].items():
        p = got["per_10k"]
        label = f"naive, measured {name} ({got['sample_events']} ev)"
        rows.append([label, n(p["total"]), n(p["polls"]), "", ""])
    rows.append(
        [
            "minimum the batch limits allow",
            n(least["total"]),
            n(least["polls"]),
            n(least["batches"]),
            "1.00",
        ]
    )
    for name, row in result["rows"].items():
        if not row["available"]:
            rows.append([f"io-bridge, {name}", "not yet available", "", "", ""])
            continue
        p, r = row["per_10k"], row["ratio_total"]
        rows.append(
            [
                f"io-bridge, {name}",
                c.fmt_spread(p["total"]),
                c.fmt_spread(p["polls"]),
                c.fmt_spread(row["batches"]),
                f"{r['median']:.2f} ({r['min']:.2f} – {r['max']:.2f})",
            ]
        )
    c.table(
        "calls per 10,000 events (all operations incl. token; io-bridge also classifies)",
        ["client", "total calls", "status polls", "batches/10k", "× minimum"],
        rows,
    )
    print()
    naive0 = result["naive"].get("job_seconds=0", {}).get("per_10k", {}).get("total")
    for name, row in result["rows"].items():
        if not row["available"]:
            continue
        r, o = row["ratio_total"], row["ratio_other"]
        verdict = "met" if r["median"] <= target else "NOT met"
        times = naive0 / row["per_10k"]["total"]["median"] if naive0 else 0.0
        fewer = f"; naive (job_seconds=0) makes {times:.0f}× as many" if naive0 else ""
        print(
            f"  {name}: total {r['median']:.2f} × minimum, target ≤ {target}: {verdict}; "
            f"calls other than polls {o['median']:.2f} × minimum{fewer}"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = c.parser("bench_api", __doc__)
    p.add_argument("--tenants", type=int, help="default 20: 2,000 events, scaled to 10,000")
    p.add_argument("--datasets", type=int, default=100)
    p.add_argument("--naive-sample", type=int, default=200)
    args = p.parse_args(argv)
    tenants = args.tenants or (5 if args.quick else 20)
    linger = 1.0 if args.quick else None  # smoke run only: the default 5 s dominates its time
    repeats = args.repeats or (1 if args.quick else 2)
    sample = 20 if args.quick else args.naive_sample
    # The smoke run keeps one polling and one webhook variant.
    variants = [v for n, v in enumerate(VARIANTS) if not args.quick or n in (0, 2)]
    return c.run_on_broker(
        "api",
        args,
        lambda bootstrap: asyncio.run(
            measure(bootstrap, tenants, args.datasets, repeats, sample, variants, linger)
        ),
        report,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
