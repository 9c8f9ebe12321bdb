"""Benchmark of the IO API client: overhead per call and sustained calls per second.

Run: ``.venv/bin/python -m bench.bench_client [--repeats 7] [--calls 1000] [--no-http]``.

* **Overhead**: ``GET /status`` against the in-process emulator (``httpx.ASGITransport``) and
  against canned instant answers (``httpx.MockTransport``), all client knobs off (no rate
  limit, no concurrency cap, no retries, no 404 window). The same request sent with bare
  ``httpx`` (token fetched once, headers prebuilt, body not parsed) is the baseline; overhead =
  client − baseline, CPU time of this process per call (so other processes' load does not
  count), alternating in blocks within each repeat.
* **Throughput**: ``GET /status`` calls per second at concurrency 1, 8 and 32 (that many
  tasks sharing one client), in-process and against a uvicorn emulator in a subprocess.

Each figure is the median over repeats with its spread (min–max). The emulator's own work is
in every number; only the overhead line isolates the client.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

from emulator import EmulatorConfig, create_app
from schemas.io_api import Transaction, UploadBody, UploadDataset
from service.adapters.io_api import IoApiClient, IoApiClientConfig

CONCURRENCY = (1, 8, 32)
TENANT = "bench"


def knobs_off(root: str) -> IoApiClientConfig:
    """The client with every gate off: what is left is the client's own work."""
    return IoApiClientConfig(
        f"{root}/io",
        f"{root}/connect/token",
        "machine-learning-factory-api-stage:io",
        "io-bridge-local",
        SecretStr("io-bridge-local-secret"),
        timeout=30.0,
        max_retries=0,
        max_concurrency=None,
        rate_limit_per_second=None,
        not_visible_window=0.0,
    )


async def prepare(io: IoApiClient) -> str:
    """Upload one small dataset; its validation job id is what /status is asked about."""
    day = dt.date.today() - dt.timedelta(days=1)
    tx = Transaction(transaction_id="t1", departure_date=day, quantity=1.0)
    presigned = await io.get_presigned_url(TENANT)
    await io.upload(
        presigned, UploadBody(datasets=(UploadDataset(dataset_id="d", transactions=(tx,)),))
    )
    await io.get_status(TENANT, presigned.job_id)
    return presigned.job_id


async def timed(
    calls: int,
    concurrency: int,
    call: Callable[[], Awaitable[object]],
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds (of ``clock``) for ``calls`` calls spread over ``concurrency`` tasks."""

    async def worker(count: int) -> None:
        for _ in range(count):
            await call()

    share, extra = divmod(calls, concurrency)
    started = clock()
    async with asyncio.TaskGroup() as group:
        for index in range(concurrency):
            group.create_task(worker(share + (index < extra)))
    return clock() - started


async def overhead(
    http: httpx.AsyncClient, root: str, calls: int, repeats: int
) -> dict[str, float]:
    """Client vs bare httpx CPU µs per call (process time: other processes' load is not ours)."""
    async with IoApiClient(knobs_off(root), http) as io:
        job_id = await prepare(io)
        token = (await io._auth.current()).get_secret_value()  # the same token, private on purpose
        headers = {"Authorization": f"Bearer {token}", "tenantId": TENANT, "jobId": job_id}
        url = f"{root}/io/status"

        async def bare() -> object:
            return await http.get(url, headers=headers)

        async def client() -> object:
            return await io.get_status(TENANT, job_id)

        await timed(calls // 10, 1, bare)  # warm-up
        await timed(calls // 10, 1, client)
        pairs = [await _paired(calls, bare, client) for _ in range(repeats)]
    diffs = [ours - raw for raw, ours in pairs]
    return {
        "bare_us": statistics.median(raw for raw, _ in pairs),
        "client_us": statistics.median(ours for _, ours in pairs),
        "overhead_us": statistics.median(diffs),
        "overhead_min_us": min(diffs),
        "overhead_max_us": max(diffs),
    }


async def _paired(
    calls: int, bare: Callable[[], Awaitable[object]], client: Callable[[], Awaitable[object]]
) -> tuple[float, float]:
    """Bare and client µs per call, alternating in ten blocks so drift hits both alike."""
    block = max(calls // 10, 1)
    raw = ours = 0.0
    for _ in range(10):
        raw += await timed(block, 1, bare, time.process_time)
        ours += await timed(block, 1, client, time.process_time)
    return raw / (10 * block) * 1e6, ours / (10 * block) * 1e6


async def throughput(
    http: httpx.AsyncClient, root: str, calls: int, repeats: int
) -> dict[int, dict[str, float]]:
    """Calls per second at each concurrency: median, min, max over repeats."""
    out: dict[int, dict[str, float]] = {}
    async with IoApiClient(knobs_off(root), http) as io:
        job_id = await prepare(io)

        async def call() -> object:
            return await io.get_status(TENANT, job_id)

        for concurrency in CONCURRENCY:
            await timed(calls // 10, concurrency, call)  # warm-up
            rates = [calls / await timed(calls, concurrency, call) for _ in range(repeats)]
            out[concurrency] = {
                "median": statistics.median(rates),
                "min": min(rates),
                "max": max(rates),
            }
    return out


def canned_api() -> httpx.MockTransport:
    """An API that answers instantly with fixed bodies: what remains is client-side cost."""
    token = httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
    upload = httpx.Response(200, json={"url": "http://canned/put?sig=x", "jobId": "j"})
    status = httpx.Response(200, json={"status": "success", "datasetsStatus": []})
    answers = {"/connect/token": token, "/io/presigned_url": upload, "/io/status": status}

    def handle(request: httpx.Request) -> httpx.Response:
        canned = answers.get(request.url.path, httpx.Response(200))
        return httpx.Response(canned.status_code, content=canned.content)

    return httpx.MockTransport(handle)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def emulator_process() -> Iterator[str]:
    """A uvicorn emulator (default knobs) in a subprocess; yields its root URL."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "emulator:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{root}/io/health_check", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield root
    finally:
        process.terminate()
        process.wait(timeout=10)


async def run(calls: int, repeats: int, with_http: bool) -> dict[str, Any]:
    """All measurements; the in-process ones first."""
    app = create_app(EmulatorConfig())
    root = "http://emulator.bench"
    results: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "calls_per_repeat": calls,
        "repeats": repeats,
    }
    async with httpx.AsyncClient(transport=canned_api()) as http:
        results["overhead"] = {"canned": await overhead(http, "http://canned", calls, repeats)}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        results["overhead"]["emulator"] = await overhead(http, root, calls, repeats)
        results["throughput"] = {"inprocess": await throughput(http, root, calls, repeats)}
    await app.aclose()
    if with_http:
        with emulator_process() as url:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(limits=limits) as http:
                results["throughput"]["http"] = await throughput(http, url, calls, repeats)
    return results


def report(results: dict[str, Any]) -> None:
    """Print the tables."""
    print(f"cores: {results['cores']}  python: {results['python']}  ", end="")
    print(f"calls/repeat: {results['calls_per_repeat']}  repeats: {results['repeats']}")
    print("\nCPU µs per GET /status call, knobs off: median over repeats (overhead spread)")
    print(f"  {'target':<30}{'bare httpx':>12}{'IoApiClient':>13}{'overhead':>10}  spread")
    names = {"canned": "canned answers (client only)", "emulator": "in-process emulator"}
    for target, over in results["overhead"].items():
        print(
            f"  {names[target]:<30}{over['bare_us']:>12.1f}{over['client_us']:>13.1f}"
            f"{over['overhead_us']:>10.1f}  {over['overhead_min_us']:.1f} – "
            f"{over['overhead_max_us']:.1f}"
        )
    print("\nsustained calls/s, GET /status (wall clock): median (min – max)")
    print(f"  {'target':<10}" + "".join(f"{f'c={c}':>26}" for c in CONCURRENCY))
    for target, rows in results["throughput"].items():
        cells = "".join(
            f"{rows[c]['median']:>10.0f} ({rows[c]['min']:.0f} – {rows[c]['max']:.0f})".rjust(26)
            for c in CONCURRENCY
        )
        print(f"  {target:<10}{cells}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the tables, return the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1000, help="calls per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-http", action="store_true", help="skip the uvicorn target")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    results = asyncio.run(run(args.calls, args.repeats, not args.no_http))
    report(results)
    return results


if __name__ == "__main__":
    main()
