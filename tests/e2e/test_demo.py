"""``io-bridge demo``, ``replay`` and ``tail`` as a user runs them: separate processes, real Kafka.

The demo starts its own broker (Java and Maven present) or uses the session's broker, the IO API
emulator and io-bridge as child processes; these tests check what it prints and writes, and that
nothing it started outlives it, whether it finishes or is interrupted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from service.devkit.demo_output import FILES, PLOTS, SUMMARY, read_jsonl
from service.devkit.kafka_local import pid_alive
from service.devkit.sample_data import generate, summarize, transaction_rows, write_transactions
from service.devkit.sample_events import events as sample_events
from tests.conftest import TopicFactory

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(480)]

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "service"]
SMALL = {"tenants": 2, "products": 6, "days": 400, "seed": 42}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RUNNING = re.compile(r"running: (.*?) \(ready in")


def clean_env() -> dict[str, str]:
    """The environment without broker or io-bridge settings (the demo decides those)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IOB_", "IOE_")) and k != "KAFKA_BOOTSTRAP_SERVERS"
    }


def broker_args(request: pytest.FixtureRequest, home: Path) -> list[str]:
    """Own broker (with the classpath Maven already resolved, if any) or the session's one."""
    home.mkdir(parents=True)
    if not (shutil.which("java") and shutil.which("mvn")):
        return ["--bootstrap", str(request.getfixturevalue("kafka_bootstrap"))]
    cached = sorted((REPO / ".kafka").glob("*/classpath.txt"))
    if cached:
        shutil.copy2(cached[0], home / "classpath.txt")  # keeps the mtime the launcher checks
    return []


def demo_argv(out: Path, home: Path, size: dict[str, int], extra: list[str]) -> list[str]:
    flags = [f"--{k}={v}" for k, v in size.items()]
    return [*CLI, "demo", *flags, "--out", str(out), "--home", str(home), *extra]


def started_pids(output: str) -> dict[str, int]:
    """``running: emulator pid 1, service pid 2, broker pid 3`` → ``{name: pid}``."""
    found = RUNNING.search(output)
    assert found, output
    return {part.split()[0]: int(part.split()[-1]) for part in found.group(1).split(", ")}


def assert_nothing_left(pids: dict[str, int], home: Path) -> None:
    """Every process the demo started is gone, its pid files too, and no process names home
    (the broker's command line carries its config path) or the demo's output folder."""
    assert {name: pid for name, pid in pids.items() if pid_alive(pid)} == {}
    assert sorted(p.name for p in home.glob("*.pid")) == []
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    assert [line for line in ps.stdout.splitlines() if str(home.parent) in line] == []


def expected_per_tenant(size: dict[str, int]) -> dict[str, Any]:
    data = generate(size["tenants"], size["products"], size["days"], size["seed"])
    return summarize(data, sample_events(data, envelope="mixed"))


def test_the_demo_streams_the_sample_to_outcomes_plots_and_a_summary_and_stops_everything(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """2 tenants × 6 products × 400 days: exit 0, numbers that match the sample, one outcome per
    dataset in the JSONL, the DLQ holding every invalid event, real PNGs, nothing left running."""
    out, home = tmp_path / "out", tmp_path / "home"
    argv = demo_argv(out, home, SMALL, broker_args(request, home))
    done = subprocess.run(
        argv, cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=420, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert_nothing_left(started_pids(output), home)
    assert "Per tenant" in output
    assert "IO API calls" in output

    summary = json.loads((out / SUMMARY).read_text())
    expected = expected_per_tenant(SMALL)
    assert [row["tenant"] for row in summary["tenants"]] == list(expected)
    for row in summary["tenants"]:
        sample = expected[row["tenant"]]
        assert (row["datasets"], row["priced"]) == (sample.datasets, sample.datasets_with_prices)
        assert (row["events"], row["invalid"]) == (sample.valid_events, sample.invalid_events)
        assert row["predicted"] + row["failed"] == row["datasets"]
        assert row["dlq"] == row["invalid"]
        assert row["classified"] == row["priced"]
        assert sum(row["abc"].values()) == sum(row["demand"].values()) == row["classified"]
    assert summary["api_calls"]["upload"] >= 1
    assert summary["api_calls"]["start_inventory_classification"] >= 1

    outcomes = read_jsonl(out / FILES["prediction"]) + read_jsonl(out / FILES["failed"])
    datasets = {(r["data"]["tenantId"], r["data"]["datasetId"]) for r in outcomes}
    data = generate(SMALL["tenants"], SMALL["products"], SMALL["days"], SMALL["seed"])
    assert datasets == {(d.tenant_id, d.dataset_id) for d in data.datasets}
    assert all(r["headers"]["ce_specversion"] == "1.0" for r in outcomes)
    dlq = read_jsonl(out / FILES["dlq"])
    assert len(dlq) == sum(s.invalid_events for s in expected.values())
    assert Counter(r["headers"]["dlq.source.topic"] for r in dlq) == {
        "erp.sales-updated.v1": len(dlq)
    }

    plots = sorted((out / PLOTS).glob("*.png"))
    assert [p.name for p in plots] == [
        "abc-pareto.png",
        "demand-types.png",
        "forecasts-tenant-001.png",
        "forecasts-tenant-002.png",
    ]
    for path in plots:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        assert path.stat().st_size > 10_000
        with Image.open(path) as image:
            image.verify()


@pytest.mark.parametrize("moment", ["starting Kafka", "running:"])
def test_ctrl_c_stops_the_broker_emulator_and_service_and_exits_130(
    request: pytest.FixtureRequest, tmp_path: Path, moment: str
) -> None:
    """SIGINT while starting up or once everything runs: the demo stops its children in order
    (waiting for a broker half-way through its start) and leaves nothing behind."""
    out, home = tmp_path / "out", tmp_path / "home"
    size = {"tenants": 3, "products": 60, "days": 730, "seed": 1}
    argv = demo_argv(out, home, size, broker_args(request, home))
    proc = subprocess.Popen(
        argv, cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        lines.append(line)
        if moment in line or time.monotonic() > deadline:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    output = "".join(lines) + rest
    assert proc.returncode == 130, output
    assert "interrupted: stopping everything" in output
    pids = started_pids(output) if "running:" in output else {}
    assert_nothing_left(pids, home)
    assert (out / FILES["prediction"]).exists() == ("running:" in output)


def test_the_demo_on_an_existing_broker_uses_topics_of_its_own_and_starts_no_broker(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """With --bootstrap the topic names get a unique suffix, so a rerun never sees old events."""
    out, home = tmp_path / "out", tmp_path / "home"
    size = {"tenants": 1, "products": 4, "days": 200, "seed": 9}
    argv = demo_argv(out, home, size, ["--bootstrap", kafka_bootstrap])
    done = subprocess.run(
        argv, cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=300, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    pids = started_pids(output)
    assert sorted(pids) == ["emulator", "service"]
    assert re.search(r"input topic erp\.sales-updated\.v1\.demo-[0-9a-f]{8}", output), output
    assert_nothing_left(pids, home)
    rows = read_jsonl(out / FILES["prediction"])
    assert {r["topic"] for r in rows} == {rows[0]["topic"]}
    assert rows[0]["topic"].startswith("io.prediction-ready.v1.demo-")


async def run_cli(*args: str, timeout_s: float = 60.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        cwd=REPO,
        env=clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    stdout, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    return proc.returncode or 0, stdout.decode()


async def test_replay_pushes_an_export_that_tail_prints_with_headers_and_json(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    """A CSV export becomes keyed CloudEvents on the topic; tail shows each with its headers."""
    data = generate(tenants=2, products=2, days=40, seed=8)
    export = tmp_path / "export.csv"
    rows = write_transactions(transaction_rows(data), export)
    topic = await new_topic("replay", partitions=2)

    code, said = await run_cli(
        "replay", str(export), "--bootstrap", kafka_bootstrap, "--topic", topic, "--per-event", "20"
    )
    assert code == 0, said
    sent = int(re.search(r"sent (\d+) events", said).group(1))  # type: ignore[union-attr]
    assert f"({rows} transactions, 2 tenants, 4 datasets)" in said

    code, shown = await run_cli(
        "tail",
        topic,
        "--bootstrap",
        kafka_bootstrap,
        "--from-beginning",
        "--max",
        str(sent),
        "--idle-timeout",
        "15",
    )
    assert code == 0, shown
    blocks = [b for b in shown.split("\n\n") if b.startswith(f"{topic}[")]
    assert len(blocks) == sent
    assert all("  ce_type: com.visma.erp.sales-updated.v1" in b for b in blocks)
    bodies = [json.loads(b[b.index("\n{") :]) for b in blocks]
    assert sum(len(b["transactions"]) for b in bodies) == rows
    assert {b["tenantId"] for b in bodies} == set(data.tenants)


async def test_tail_of_a_missing_topic_says_so_instead_of_creating_it(kafka_bootstrap: str) -> None:
    """Tail never auto-creates a topic by subscribing to a misspelt name."""
    code, said = await run_cli("tail", "no-such-topic-7f3a", "--bootstrap", kafka_bootstrap)
    assert code == 1
    assert "topic no-such-topic-7f3a does not exist" in said
