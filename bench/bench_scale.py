"""Benchmark 4, scale: a registry of 1,000,000 datasets — restore time, RSS, ingest rate.

    .venv/bin/python -m bench.bench_scale [--tenants 10000] [--datasets 100] [--repeats 3]

Workload: ``tenants × datasets`` dataset-registry records (``DatasetRecord`` with a stock-item
snapshot, trained recently, priced) plus one ``TenantRecord`` per tenant, written straight to a
compacted 6-partition state topic in the changelog format of
``service.adapters.state_changelog`` (key ``dataset_key``, value as ``StateChangelog.record``
encodes it; each tenant's records on the partition its input events hash to). The input topic
holds 100,000 small events (the first 1,000 tenants × 100 of their registered datasets).

Each repeat is a **fresh Python process** (so RSS is the service's alone) running an in-process
``serve()`` with a fresh consumer group over both topics and the in-process emulator:

* restore: wall time from ``serve()`` start until all 6 partitions are assigned and restored,
  and the sum of ``io_bridge_state_restore_duration_seconds`` (partitions restore one after the
  other) with the ``partition_assigned`` log lines;
* RSS (``VmRSS`` from ``/proc/self/status``) before start, after restore and after ingest, and
  the peak (``VmHWM``);
* ingest: consumption rate of the 100,000 events with the registry loaded (linger raised so no
  run starts inside the window, as in benchmark 1).

Also measured in this process: ``Registry.priced_datasets`` on one partition's share of the
registry, which every finished prediction run calls (classification check).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import CollectorRegistry

from bench import _common as c
from bench.bench_ingest import EMULATOR_ROOT, PARTITIONS, bench_settings
from emulator import EmulatorConfig, create_app
from service.adapters.state_changelog import dataset_key, encode, tenant_key
from service.bootstrap import serve
from service.domain.model import Period, StockItem
from service.domain.registry import DatasetRecord, Registry, TenantRecord
from service.metrics import Metrics

INGEST_TENANTS = 1000
# Time boxes of one measured process: at a size where restore blocks the event loop past the
# consumer's session timeout, the group never settles (see PERFORMANCE.md), and waiting for it
# would blow the benchmark's time budget. A run that hits a box is reported as such.
RESTORE_LIMIT_SECONDS = 150.0
INGEST_LIMIT_SECONDS = 45.0


def partition_of(tenant: str) -> int:
    """The input partition of a tenant's events (the producer's default murmur2 partitioner)."""
    all_partitions = list(range(PARTITIONS))
    return int(DefaultPartitioner()(tenant.encode(), all_partitions, all_partitions))


def stock_item(j: int) -> StockItem:
    return StockItem(
        inventory=float(10 + j % 50),
        service_level=0.95,
        time_to_next_order=Period(2, "W"),
        supplier_id=f"supplier-{j % 7}",
        lead_time=Period(1, "W"),
    )


def registry_records(tenants: int, datasets: int, now: float) -> Iterator[tuple[bytes, bytes, int]]:
    """Every tenant's DatasetRecords and its TenantRecord, keyed and partitioned as the service
    would write them. Values are spliced from per-dataset templates (a million encodings would
    add a minute to the benchmark); :func:`prepare` checks them against the service's own
    encoding."""
    templates = []
    for j in range(datasets):
        body = encode(DatasetRecord("@T@", c.dataset_name(j), "W", 12, now, True, stock_item(j)))
        head, tail = body.split(b"@T@")
        templates.append((c.dataset_name(j).encode(), head, tail))
    for i in range(tenants):
        tenant = c.tenant_name(i)
        raw = tenant.encode()
        partition = partition_of(tenant)
        for name, head, tail in templates:
            yield raw + b"|dataset|" + name, head + raw + tail, partition
        classified = TenantRecord(tenant, now, datasets)
        yield tenant_key(classified), encode(classified), partition


async def prepare(bootstrap: str, tenants: int, datasets: int) -> dict[str, Any]:
    now = time.time()
    for key, value, _ in itertools.islice(registry_records(1, datasets, now), datasets):
        tenant, _, name = key.decode().split("|")
        record = DatasetRecord(tenant, name, "W", 12, now, True, stock_item(int(name[4:])))
        if key != dataset_key(record) or value != encode(record):  # must match the service's
            raise RuntimeError("registry_records drifted from StateChangelog's encoding")
    state = f"bench-scale-state-{c.tag()}"
    source = f"bench-scale-in-{c.tag()}"
    await c.create_topic(
        bootstrap, state, PARTITIONS, **{"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
    )
    await c.create_topic(bootstrap, source, PARTITIONS)
    began = time.perf_counter()
    written = await c.produce_batched(bootstrap, state, registry_records(tenants, datasets, now))
    write_seconds = time.perf_counter() - began
    ingest_tenants = min(INGEST_TENANTS, tenants)
    events = await c.produce_bulk(bootstrap, source, c.grid_events(ingest_tenants, datasets))
    return {
        "state_topic": state,
        "input_topic": source,
        "records": written,
        "write_seconds": write_seconds,
        "events": events,
        "ingest_tenants": ingest_tenants,
    }


def priced_datasets_cost(tenants: int, datasets: int) -> dict[str, float]:
    """Seconds per ``Registry.priced_datasets`` call on one partition's share of the registry."""
    registry = Registry()
    share = max(1, tenants // PARTITIONS)
    for i in range(share):
        for j in range(datasets):
            registry.put(DatasetRecord(c.tenant_name(i), c.dataset_name(j), "W", 12, 1.0, True))
    calls = 20
    began = time.perf_counter()
    for i in range(calls):
        registry.priced_datasets(c.tenant_name(i % share))
    return {"entries": share * datasets, "seconds_per_call": (time.perf_counter() - began) / calls}


# ---------------------------------------------------------------- the child process
def rss_mib() -> dict[str, float]:
    fields: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


async def child(
    bootstrap: str,
    state: str,
    source: str,
    events: int,
    log: Path,
    restore_limit: float = RESTORE_LIMIT_SECONDS,
    ingest_limit: float = INGEST_LIMIT_SECONDS,
) -> dict[str, Any]:
    """One measured service process: restore, RSS, ingest (each wait time-boxed)."""
    before = rss_mib()
    app = create_app(EmulatorConfig(job_seconds=0))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=EMULATOR_ROOT)
    settings = bench_settings(
        bootstrap, source, EMULATOR_ROOT, topic_state=state, batch_linger_seconds=3600.0
    )
    metrics = Metrics(CollectorRegistry())
    stop = asyncio.Event()
    out: dict[str, Any] = {"rss_before_mib": before["VmRSS"]}
    with c.logs_to(log):
        started = time.perf_counter()
        task = asyncio.create_task(serve(settings, stop, metrics=metrics, io_http=http))
        try:

            def check(value: float) -> float:
                if task.done():
                    task.result()
                return value

            def restored() -> bool:
                return check(c.metric_value(metrics.partitions_assigned)) >= PARTITIONS

            def consumed() -> float:
                return check(c.metric_value(metrics.events_consumed, "_total"))

            try:
                t_restored = await c.wait_for(restored, restore_limit, 0.05, "restore")
            except TimeoutError:
                out["restore_timed_out"] = True
                t_restored = time.perf_counter()
            out["restore_wall_seconds"] = t_restored - started
            out["restore_sum_seconds"] = c.metric_value(metrics.restore_duration, "_sum")
            out["rss_after_restore_mib"] = rss_mib()["VmRSS"]
            first = consumed()  # read while later partitions restored (see bench_ingest)
            try:
                await c.wait_for(lambda: consumed() >= events, ingest_limit, what="ingest")
            except TimeoutError:
                out["ingest_timed_out"] = True
            t_end, last = time.perf_counter(), consumed()
            out["ingest_events_per_second"] = (last - first) / (t_end - t_restored)
            out["ingest_consumed"] = last
            after = rss_mib()
            out["rss_after_ingest_mib"], out["rss_peak_mib"] = after["VmRSS"], after["VmHWM"]
            out["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        finally:
            out["shutdown_error"] = await c.stop_service(task, stop, 120)
            await http.aclose()
            await app.aclose()
    text = await asyncio.to_thread(log.read_text)
    assigned = [json.loads(x) for x in text.splitlines() if '"partition_assigned"' in x]
    out["partitions"] = [
        {k: a[k] for k in ("partition", "records", "datasets", "seconds")} for a in assigned
    ]
    out["rebalances"] = text.count('"partitions_revoked"')
    out["evictions"] = text.count("UnknownMemberIdError")
    return out


def run_child(bootstrap: str, prepared: dict[str, Any], n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "child.json"
        command = [sys.executable, "-m", "bench.bench_scale", "--child", "--bootstrap", bootstrap]
        command += ["--state-topic", prepared["state_topic"], "--input-topic"]
        command += [prepared["input_topic"], "--events", str(prepared["events"])]
        command += ["--json", str(out), "--log", str(c.OUT / f"scale-{n}.log")]
        subprocess.run(command, check=True, cwd=c.REPO)
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def measure(bootstrap: str, tenants: int, datasets: int, repeats: int) -> dict[str, Any]:
    prepared = asyncio.run(prepare(bootstrap, tenants, datasets))
    print(
        f"  wrote {prepared['records']:,} registry records in {prepared['write_seconds']:.0f}s",
        file=sys.stderr,
    )
    runs = []
    for n in range(repeats):
        runs.append(run_child(bootstrap, prepared, n))
        print(
            f"  repeat {n + 1}: restore {runs[-1]['restore_wall_seconds']:.1f}s, RSS "
            f"{runs[-1]['rss_after_restore_mib']:.0f} MiB, rebalances {runs[-1]['rebalances']}",
            file=sys.stderr,
        )
    priced = priced_datasets_cost(tenants, datasets)

    def field(name: str) -> dict[str, Any]:
        return c.spread([r[name] for r in runs])

    return {
        "workload": {
            "tenants": tenants,
            "datasets_per_tenant": datasets,
            "registry_datasets": tenants * datasets,
            "changelog_records": prepared["records"],
            "write_seconds": prepared["write_seconds"],
            "partitions": PARTITIONS,
            "ingest_events": prepared["events"],
            "ingest_tenants": prepared["ingest_tenants"],
        },
        "repeats": repeats,
        "restore_wall_seconds": field("restore_wall_seconds"),
        "restore_sum_seconds": field("restore_sum_seconds"),
        "rss_before_mib": field("rss_before_mib"),
        "rss_after_restore_mib": field("rss_after_restore_mib"),
        "rss_after_ingest_mib": field("rss_after_ingest_mib"),
        "rss_peak_mib": field("rss_peak_mib"),
        "ingest_events_per_second": field("ingest_events_per_second"),
        "restore_timed_out": sum(bool(r.get("restore_timed_out")) for r in runs),
        "ingest_timed_out": sum(bool(r.get("ingest_timed_out")) for r in runs),
        "rebalances": [r["rebalances"] for r in runs],
        "evictions": [r["evictions"] for r in runs],
        "limits": {
            "restore_seconds": RESTORE_LIMIT_SECONDS,
            "ingest_seconds": INGEST_LIMIT_SECONDS,
        },
        "runs": runs,
        "partitions_first_run": runs[0]["partitions"],
        "priced_datasets": priced,
        "targets": {"restore_seconds": 60, "rss_mib": 1536},
    }


def restore_verdict(result: dict[str, Any]) -> str:
    """Met only if restore was fast enough *and* the group then stayed put: a member evicted
    because its restore outlived the session timeout restores again and again."""
    if result["restore_wall_seconds"]["median"] > result["targets"]["restore_seconds"]:
        return "NOT met"
    if any(result["rebalances"]) or any(result["evictions"]):
        return "NOT met (member evicted, group rebalanced)"
    return "met"


def report(result: dict[str, Any]) -> None:
    c.banner("Scale: registry restore, memory and ingest at size", result)
    w = result["workload"]
    print(
        f"workload: {w['registry_datasets']:,} registered datasets ({w['tenants']:,} tenants × "
        f"{w['datasets_per_tenant']}) = {w['changelog_records']:,} changelog records on "
        f"{w['partitions']} partitions (written in {w['write_seconds']:.0f} s); ingest "
        f"{w['ingest_events']:,} events of {w['ingest_tenants']:,} registered tenants; "
        f"{result['repeats']} fresh processes; median (min – max)"
    )
    t = result["targets"]
    restore = result["restore_wall_seconds"]
    rss = result["rss_peak_mib"]
    rows = [
        [
            "restore: serve() start → 6 partitions restored (s)",
            c.fmt_spread(restore, 1),
            f"≤ {t['restore_seconds']} s: {restore_verdict(result)}",
        ],
        [
            "  of which changelog restore, Σ partitions (s)",
            c.fmt_spread(result["restore_sum_seconds"], 1),
            "",
        ],
        ["RSS before serve() (MiB)", c.fmt_spread(result["rss_before_mib"]), ""],
        ["RSS after restore (MiB)", c.fmt_spread(result["rss_after_restore_mib"]), ""],
        ["RSS after ingest (MiB)", c.fmt_spread(result["rss_after_ingest_mib"]), ""],
        [
            "peak RSS, VmHWM (MiB)",
            c.fmt_spread(rss),
            f"≤ {t['rss_mib']} MiB: " + ("met" if rss["median"] <= t["rss_mib"] else "NOT met"),
        ],
        [
            "ingest, registry loaded (events/s)",
            c.fmt_spread(result["ingest_events_per_second"]),
            "",
        ],
    ]
    c.table("", ["measure", "value", "target"], rows)
    p = result["priced_datasets"]
    print(
        f"  Registry.priced_datasets on one partition ({p['entries']:,} entries): "
        f"{p['seconds_per_call'] * 1000:.1f} ms per call (once per finished prediction run)"
    )
    first = result["partitions_first_run"][:PARTITIONS]
    parts = ", ".join(f"p{a['partition']}: {a['datasets']:,} in {a['seconds']:.1f}s" for a in first)
    print(f"  first restore of each partition (partition_assigned, run 1): {parts}")
    lim = result["limits"]
    print(
        f"  group rebalances per run (partitions_revoked): {result['rebalances']}; member "
        f"evictions (UnknownMemberIdError): {result['evictions']}; runs that hit the "
        f"{lim['restore_seconds']:.0f} s restore box: {result['restore_timed_out']}, the "
        f"{lim['ingest_seconds']:.0f} s ingest box: {result['ingest_timed_out']}"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = c.parser("bench_scale", __doc__)
    p.add_argument("--tenants", type=int)
    p.add_argument("--datasets", type=int, default=100)
    p.add_argument("--child", action="store_true", help="internal: one measured process")
    p.add_argument("--state-topic")
    p.add_argument("--input-topic")
    p.add_argument("--events", type=int)
    p.add_argument("--log", type=Path)
    args = p.parse_args(argv)
    if args.child:
        got = asyncio.run(
            child(args.bootstrap, args.state_topic, args.input_topic, args.events, args.log)
        )
        args.json.write_text(json.dumps(got))
        return got
    tenants = args.tenants or (100 if args.quick else 10_000)
    repeats = args.repeats or (1 if args.quick else 3)
    return c.run_on_broker(
        "scale", args, lambda bootstrap: measure(bootstrap, tenants, args.datasets, repeats), report
    )


if __name__ == "__main__":
    main(sys.argv[1:])
