"""Profile benchmark 1's hot paths with pyinstrument (not part of ``make bench``).

    .venv/bin/pip install pyinstrument
    .venv/bin/python -m bench.profile_ingest [--tenants 1000] [--e2e-tenants 100]

Two profiles of the io-bridge process (main thread, wall-clock samples every 1 ms):

* **consume**: the consumption window of benchmark 1 (``batch_linger_seconds`` raised so no run
  starts: only fetch, decode, validate and batch are in it).
* **e2e**: ``--e2e-tenants × 100`` events until every prediction-ready event is out, with the
  emulator in a **separate process** over HTTP (``job_seconds=0``), so the samples are io-bridge's
  own work rather than the emulator's threads competing for the GIL.

Writes ``bench/out/profile-<name>.txt`` / ``.html`` and prints, per profile, the functions with
the most self time (samples in the function itself, not its callees), grouped by function.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx

from bench import _common as c
from bench.bench_ingest import bridge_run, prepare_topic


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def emulator_process(job_seconds: float) -> Iterator[str]:
    """The emulator served by uvicorn in a child process; yields its root URL."""
    port = _free_port()
    env = {**os.environ, "IOE_JOB_SECONDS": str(job_seconds), "OPENBLAS_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "service", "emulator", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{root}/io/health_check", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield root
    finally:
        process.terminate()
        process.wait(timeout=10)


def self_times(session: Any, top: int) -> list[tuple[str, float]]:
    """(function at file:line, seconds of self time) of the ``top`` heaviest functions."""
    totals: dict[str, float] = {}
    stack = [session.root_frame()]
    while stack:
        frame = stack.pop()
        if frame is None:
            continue
        stack.extend(frame.children)
        if frame.is_synthetic:  # pyinstrument's [self]/[await] leaves: credit the parent
            parent = frame.parent
            name = (
                f"{parent.function}  {parent.file_path_short}:{parent.line_no}"
                if parent is not None
                else frame.function
            )
            totals[name] = totals.get(name, 0.0) + frame.time
        elif not frame.children:
            name = f"{frame.function}  {frame.file_path_short}:{frame.line_no}"
            totals[name] = totals.get(name, 0.0) + frame.time
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


async def profile(name: str, run: Any, top: int) -> dict[str, Any]:
    pyinstrument = importlib.import_module("pyinstrument")  # optional: not a project dependency
    profiler = pyinstrument.Profiler(interval=0.001, async_mode="disabled")
    cpu = time.process_time()
    profiler.start()
    result = await run
    profiler.stop()
    cpu = time.process_time() - cpu
    session = profiler.last_session
    c.OUT.mkdir(parents=True, exist_ok=True)
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    (c.OUT / f"profile-{name}.txt").write_text(text)
    (c.OUT / f"profile-{name}.html").write_text(profiler.output_html())
    heaviest = self_times(session, top)
    print(f"\n{name}: {result}\n  wall {session.duration:.1f}s, process CPU {cpu:.1f}s")
    c.table(
        f"{name}: top {top} functions by self time (main thread)",
        ["function", "self s", "share"],
        [[f, f"{s:.2f}", f"{s / session.duration:.0%}"] for f, s in heaviest],
    )
    return {"result": result, "wall": session.duration, "cpu": cpu, "top": heaviest}


async def main_async(bootstrap: str, tenants: int, e2e_tenants: int, top: int) -> None:
    prepared = await prepare_topic(bootstrap, tenants, 100)
    await profile(
        "consume",
        bridge_run(
            bootstrap,
            prepared["topic"],
            prepared["events"],
            e2e=False,
            log_path=c.OUT / "profile-consume.log",
            batch_linger_seconds=3600.0,
        ),
        top,
    )
    small = await prepare_topic(bootstrap, e2e_tenants, 100)
    with emulator_process(0.0) as root:
        await profile(
            "e2e",
            bridge_run(
                bootstrap,
                small["topic"],
                small["events"],
                e2e=True,
                log_path=c.OUT / "profile-e2e.log",
                emulator_root=root,
            ),
            top,
        )


def main(argv: list[str] | None = None) -> None:
    p = c.parser("profile_ingest", __doc__)
    p.add_argument("--tenants", type=int, default=1000)
    p.add_argument("--e2e-tenants", type=int, default=100)
    p.add_argument("--top", type=int, default=20)
    args = p.parse_args(argv)
    with c.bench_broker(args.bootstrap) as bootstrap:
        asyncio.run(main_async(bootstrap, args.tenants, args.e2e_tenants, args.top))


if __name__ == "__main__":
    main(sys.argv[1:])
