"""Benchmark 5: emulator analytics (train + forecast + PO suggestions + classification).

    .venv/bin/python -m bench.bench_emulator [--datasets 10000] [--days 730] [--repeats 3]

Datasets (two years of daily history by default; a mix of smooth, weekly-seasonal, trending
and intermittent series, priced) are stored in the emulator's store directly — upload parsing
is not part of the measure. Each repeat runs one training job, one prediction job and one
inventory-classification job (ABC by revenue, demand type, seasonality, trend) over all of them
through the emulator's job engine (``job_seconds=0``), on one core: BLAS is limited to one
thread and the process is pinned to one CPU where the OS allows. Reports datasets/second for
the three jobs together (median and spread over repeats; target ≥ 300), the same without
classification, peak RSS (target < 1 GiB) and the core count.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: "one core" means one BLAS thread

import argparse  # noqa: E402 - after the thread limits above
import asyncio  # noqa: E402
import datetime as dt  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from bench import _common as c  # noqa: E402
from emulator import EmulatorConfig, create_app  # noqa: E402
from emulator.analytics.calendar import day_of  # noqa: E402
from emulator.engine import Engine  # noqa: E402
from emulator.jobs import Job  # noqa: E402
from emulator.render import result_object  # noqa: E402
from emulator.requests import ClassifyRequest, PredictItem, TrainItem  # noqa: E402
from emulator.store import Transactions  # noqa: E402

TODAY = dt.date(2024, 7, 3)
TENANT = "bench"


def pin_one_core() -> str:
    """Pin the process to one CPU when the OS supports it; describes what was done."""
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def daily_matrix(count: int, days: int, seed: int = 0) -> np.ndarray[Any, np.dtype[np.float64]]:
    """(count, days) daily sales: four kinds of series in turn, all non-negative."""
    rng = np.random.default_rng(seed)
    t = np.arange(days, dtype=np.float64)
    level = rng.uniform(2, 40, (count, 1))
    kind = np.arange(count)[:, None] % 4
    weekly = 1 + 0.5 * np.sin(2 * np.pi * t / 7)[None, :]
    trend = 1 + t[None, :] / days
    mean = level * np.where(kind == 1, weekly, 1.0) * np.where(kind == 2, trend, 1.0)
    sales = rng.poisson(mean).astype(np.float64)
    sparse = rng.random((count, days)) < 0.1
    result: np.ndarray[Any, np.dtype[np.float64]] = np.where(kind == 3, sales * sparse, sales)
    return result


def fill(engine: Engine, count: int, days: int, chunk: int = 500) -> int:
    """Store ``count`` datasets of ``days`` daily sales ending yesterday; returns rows stored."""
    first = day_of(TODAY) - days
    stored = 0
    for i in range(count):
        if i % chunk == 0:  # generate in chunks: the matrix is not what is being measured
            sales = daily_matrix(min(chunk, count - i), days, seed=i)
        where = np.flatnonzero(sales[i % chunk] > 0)
        n = where.size
        rows = Transactions(
            keys=where.astype(np.int64),  # ids are opaque: any distinct int64 will do
            days=(first + where).astype(np.int64),
            quantity=sales[i % chunk, where],
            price=np.full(n, 10.0),
            cost=np.full(n, 6.0),
        )
        engine.store.put(TENANT, f"ds-{i}", rows)
        stored += n
    return stored


async def run_job(job: Job) -> float:
    """Wait for a job to finish; returns its wall time."""
    await job.done.wait()
    assert job.finished_at is not None  # noqa: S101 - set with done
    return job.finished_at - job.created_at


async def one_repeat(
    engine: Engine, ids: list[str], horizon: int
) -> tuple[float, float, float, Job]:
    """Train, predict, then classify every dataset: seconds per phase and the prediction job."""
    train = [
        TrainItem.model_validate({"datasetId": i, "frequency": "D", "horizon": horizon})
        for i in ids
    ]
    predict = [
        PredictItem.model_validate(
            {
                "datasetId": i,
                "currentInventoryLevel": 20,
                "wantedServiceLevel": 0.95,
                "replenishmentInterval": {"value": 2, "granularity": "W"},
                "supplier": {"supplierId": "s", "leadTime": {"value": 1, "granularity": "W"}},
            }
        )
        for i in ids
    ]
    trained = await run_job(engine.training(TENANT, train, None))
    job = engine.prediction(TENANT, predict, None)
    predicted = await run_job(job)
    assert job.status == "success", job.message  # noqa: S101 - a broken run must not report
    request = ClassifyRequest.model_validate({"datasetIds": ids, "abcDriver": "revenue"})
    classification = engine.classification(TENANT, request)
    classified = await run_job(classification)
    assert classification.status == "success", classification.message  # noqa: S101
    return trained, predicted, classified, job


def render_rate(results: list[Any], sample: int = 200) -> float:
    """ResultObjects rendered per second (a sample: rendering all would dominate memory)."""
    chosen = results[:sample]
    started = time.perf_counter()
    for prediction in chosen:
        result_object(prediction)
    return len(chosen) / (time.perf_counter() - started)


async def measure(count: int, days: int, repeats: int, horizon: int) -> dict[str, Any]:
    """Fill once, then time ``repeats`` train+predict rounds."""
    app = create_app(EmulatorConfig(job_seconds=0, today=TODAY))
    engine = app.emulator.engine
    started = time.perf_counter()
    rows = fill(engine, count, days)
    fill_seconds = time.perf_counter() - started
    ids = [f"ds-{i}" for i in range(count)]
    rounds: list[tuple[float, float, float]] = []
    cpu: list[float] = []
    for _ in range(repeats):
        engine.jobs.clear()  # the previous round's results would only add up
        began = time.process_time()  # the jobs' worker threads count too: one process
        trained, predicted, classified, job = await one_repeat(engine, ids, horizon)
        cpu.append(time.process_time() - began)
        rounds.append((trained, predicted, classified))
    rates = [count / sum(r) for r in rounds]
    cpu_rates = [count / s for s in cpu]
    without = [count / (train + predict) for train, predict, _ in rounds]
    rendered = render_rate(job.results)
    await app.aclose()
    return {
        "datasets": count,
        "days": days,
        "rows": rows,
        "horizon": horizon,
        "repeats": repeats,
        "fill_seconds": fill_seconds,
        "train_seconds": [r[0] for r in rounds],
        "predict_seconds": [r[1] for r in rounds],
        "classify_seconds": [r[2] for r in rounds],
        "datasets_per_second": statistics.median(rates),
        "datasets_per_second_min": min(rates),
        "datasets_per_second_max": max(rates),
        "cpu_seconds": cpu,
        "datasets_per_cpu_second": statistics.median(cpu_rates),
        "datasets_per_cpu_second_min": min(cpu_rates),
        "datasets_per_cpu_second_max": max(cpu_rates),
        "train_predict_per_second": statistics.median(without),
        "train_predict_per_second_min": min(without),
        "train_predict_per_second_max": max(without),
        "render_per_second": rendered,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def report(result: dict[str, Any], pinning: str | None = None) -> None:
    """Print the table."""
    if "machine" in result:
        c.banner("Emulator analytics: train + predict + classify, one core", result)
    pinning = pinning or result.get("pinning", "")
    rate = result["datasets_per_second"]
    verdict = "met" if rate >= 300 else "NOT met"
    rows = [
        ("datasets × days", f"{result['datasets']} × {result['days']} ({result['rows']} rows)"),
        ("cores", f"{os.cpu_count()} available, {pinning}, BLAS threads 1"),
        ("repeats", str(result["repeats"])),
        ("train s (each)", ", ".join(f"{s:.2f}" for s in result["train_seconds"])),
        ("predict s (each)", ", ".join(f"{s:.2f}" for s in result["predict_seconds"])),
        ("classify s (each)", ", ".join(f"{s:.2f}" for s in result["classify_seconds"])),
        ("datasets/s median", f"{rate:.0f}  (train + predict + classify; target ≥ 300: {verdict})"),
        (
            "datasets/s spread",
            f"{result['datasets_per_second_min']:.0f} – {result['datasets_per_second_max']:.0f}",
        ),
        (
            "datasets/CPU-second",
            f"{result['datasets_per_cpu_second']:.0f}  ({result['datasets_per_cpu_second_min']:.0f}"
            f" – {result['datasets_per_cpu_second_max']:.0f}; process CPU time, immune to "
            "other processes' load)",
        ),
        (
            "without classify",
            f"{result['train_predict_per_second']:.0f}  "
            f"({result['train_predict_per_second_min']:.0f} – "
            f"{result['train_predict_per_second_max']:.0f}; train + predict only)",
        ),
        ("results rendered/s", f"{result['render_per_second']:.0f}  (JSON shapes, sample)"),
        ("peak RSS", f"{result['peak_rss_mib']:.0f} MiB  (target < 1024)"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, return the numbers."""
    parser = argparse.ArgumentParser(
        prog="bench.bench_emulator", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--quick", action="store_true", help="1,000 datasets, one repeat")
    parser.add_argument("--json", type=Path, help="also write the result dict here")
    parser.add_argument("--bootstrap", help="ignored (no broker needed); accepted for the runner")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.repeats = min(args.datasets, 1000), 1
    machine = c.machine()  # before pinning: the load average of the whole machine
    pinning = pin_one_core()
    started = time.perf_counter()
    result: dict[str, Any] = {"benchmark": "emulator", "machine": machine, "pinning": pinning}
    result |= asyncio.run(measure(args.datasets, args.days, args.repeats, args.horizon))
    result["wall_seconds"] = time.perf_counter() - started
    c.finish(result, args.json)
    report(result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
