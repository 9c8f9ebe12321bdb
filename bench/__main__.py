"""Run every io-bridge benchmark: ``python -m bench [--quick] [--only ingest,api]``.

Starts one private Kafka broker (``.kafka/bench``, a free port pair; never the shared
development broker), runs each ``bench/bench_<name>.py`` in its own Python process (so one
benchmark's memory, CPU pinning or event loop cannot leak into the next), prints every table
again at the end and writes ``bench/results.json`` (``--quick``: ``bench/out/results-quick.json``,
so a smoke run never overwrites the real figures). ``make bench`` runs it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import subprocess
import sys
import time
from typing import Any

from bench import _common as c
from service.devkit.kafka_local import LocalKafka, free_port_pair

BENCHMARKS = ("ingest", "api", "latency", "scale", "emulator")
# Per-benchmark arguments of the full run, sized so that `make bench` stays under 20 minutes on
# two busy cores (each module's own defaults are the full-size workloads of the brief).
FULL_ARGS: dict[str, list[str]] = {
    "ingest": [],  # 100,000 events, 3 repeats; end-to-end once on 5,000
    "api": [],  # 2,000 events per run, 4 variants × 2 repeats, scaled to 10,000
    "latency": [],  # 40 tenants, 2 rounds
    "scale": ["--repeats", "2"],  # 1,000,000 datasets; each run time-boxed
    "emulator": ["--datasets", "5000"],  # × 730 days, 3 repeats
}


def run_one(name: str, bootstrap: str, quick: bool) -> tuple[dict[str, Any] | None, float, str]:
    """One benchmark in a child process; (its result, wall seconds, error text)."""
    out = c.OUT / f"{name}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", f"bench.bench_{name}", "--bootstrap", bootstrap]
    command += ["--json", str(out)]
    command += ["--quick"] if quick else FULL_ARGS[name]
    print(f"\n### bench_{name}: {' '.join(command[1:])}", flush=True)
    began = time.perf_counter()
    done = subprocess.run(command, cwd=c.REPO, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0 or not out.exists():
        return None, seconds, f"exit status {done.returncode}"
    result: dict[str, Any] = json.loads(out.read_text())
    return result, seconds, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke version (under 2 minutes)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--bootstrap", help="use this broker instead of starting a private one")
    args = parser.parse_args(argv)
    names = [n for n in (args.only.split(",") if args.only else BENCHMARKS) if n]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    summary: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": c.machine(),
        "benchmarks": {},
        "wall_seconds": {},
        "errors": {},
    }
    broker: LocalKafka | None = None
    bootstrap = args.bootstrap
    if not bootstrap:
        broker = LocalKafka(home=c.BENCH_HOME, port=free_port_pair())
        print(f"starting the bench broker on {broker.bootstrap} ({broker.home})", flush=True)
        summary["broker_start_seconds"] = broker.start()
        bootstrap = broker.bootstrap
    try:
        for name in names:
            result, seconds, error = run_one(name, bootstrap, args.quick)
            summary["wall_seconds"][name] = round(seconds, 1)
            if result is None:
                summary["errors"][name] = error
            else:
                summary["benchmarks"][name] = result
    finally:
        if broker is not None:
            broker.stop()
    summary["total_wall_seconds"] = round(time.perf_counter() - started, 1)
    summary["loadavg_after"] = c.machine()["loadavg"]
    target = c.OUT / "results-quick.json" if args.quick else c.REPO / "bench" / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print("\n" + "=" * 100 + "\nio-bridge benchmarks" + (" (quick)" if args.quick else ""))
    for name, result in summary["benchmarks"].items():
        importlib.import_module(f"bench.bench_{name}").report(result)
    for name, error in summary["errors"].items():
        print(f"\n== {name}: FAILED ({error}); see its output above")
    walls = ", ".join(f"{n} {s:.0f}s" for n, s in summary["wall_seconds"].items())
    print(f"\ntotal wall time {summary['total_wall_seconds']:.0f}s ({walls}); results: {target}")
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
