"""Soak and chaos: a seeded workload through a broker of its own, the emulator and io-bridge.

One run (:func:`run_chaos`) starts a :class:`~service.devkit.kafka_local.LocalKafka` on free
ports (restartable with its data), the IO API emulator over HTTP (:class:`ServerThread`) with
faults on (5xx, 429 storms with ``Retry-After``, tokens that expire every few seconds, slow
jobs, datasets that fail, jobs that never finish) and io-bridge as a separate OS process. While
the workload streams in, the service is killed with SIGKILL at seeded random moments and
restarted, and the broker is restarted. At the end every input record is accounted for
(:mod:`tests.accounting`), tenant isolation is checked, and the service's logs, its ``/metrics``
text and every output topic are searched for secrets. :func:`verdict` lists what went wrong.

Short version: ``tests/e2e/test_chaos.py`` (in ``make test``). Long version::

    python -m tests.chaos --kills 20 [--seed 7 --tenants 4 --products 8 --waves 8 --json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import fnmatch
import json
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from emulator import EmulatorConfig, create_app
from service.config import Settings
from service.devkit.kafka_local import LocalKafka, free_port_pair, port_is_free
from service.devkit.sample_data import SampleData, generate
from service.devkit.sample_events import events as sample_events
from service.devkit.sample_model import Dataset, SampleEvent
from tests.accounting import (
    PRESIGNED_SIGNATURE,
    Accounting,
    InputRecord,
    OutputRecord,
    OutputTopics,
    SecretProbe,
    account,
    ce_id_collisions,
    covered,
    e2e_summary,
    isolation_violations,
    misrouted,
    order_violations,
    percent,
    texts_of,
    token_shape,
)
from tests.emulator_fixtures import ServerThread
from tests.pipeline_harness import ServiceProcess, pipeline_settings

FAIL_GLOB = "broken-*"  # a dataset of the first tenant: fails in every job (validation first)
HANG_GLOB = "stuck-*"  # a job containing it never finishes
STUCK_TENANT = "tenant-stuck"  # the hanging dataset's tenant (nothing else in its batches)
Log = Callable[[str], None]
# What a dataset without a fault knob may end in: a prediction, or a failure the faults and the
# workload explain (too little history to train, an API step stuck past its timeout).
NORMAL_STATES = frozenset(
    {"prediction-ready"}
    | {
        f"dataset-failed:{stage}"
        for stage in ("upload", "training", "prediction", "results", "timeout")
    }
)


@dataclass(frozen=True)
class ChaosPlan:
    """Everything that shapes one run; the same plan and seed give the same workload and
    schedule (timing on a shared machine still varies)."""

    seed: int = 7
    tenants: int = 3
    products: int = 6
    days: int = 360
    days_per_event: int = 90
    invalid: int = 10
    waves: int = 4
    kills: int = 3
    broker_restarts: int = 1
    exactly_once: bool = False
    rate_5xx: float = 0.3
    storm_rate_429: float = 0.7
    storm_seconds: float = 2.5
    storm_gap: tuple[float, float] = (4.0, 10.0)
    retry_after_seconds: float = 1.0
    token_lifetime_seconds: float = 3.0
    job_seconds: float = 1.0
    job_seconds_per_dataset: float = 0.1
    validation_timeout_seconds: float = 10.0
    job_timeout_seconds: float = 20.0
    kill_after: tuple[float, float] = (1.0, 6.0)
    early_kill_share: float = 0.25
    broker_down_seconds: tuple[float, float] = (1.0, 3.0)
    settle_timeout_s: float = 150.0

    def __post_init__(self) -> None:
        if self.tenants < 2 or self.products < 2:
            raise ValueError("the fault datasets need at least 2 tenants of 2 products")


@dataclass
class ChaosReport:
    plan: ChaosPlan
    wall_seconds: float = 0.0
    chaos_seconds: float = 0.0
    settle_seconds: float = 0.0
    kills: int = 0
    early_kills: int = 0
    self_exits: list[str] = field(default_factory=list)
    broker_restarts: int = 0
    broker_restart_seconds: list[float] = field(default_factory=list)
    storms: int = 0
    final_exit: int | None = None
    inputs: list[InputRecord] = field(default_factory=list)
    outputs: list[OutputRecord] = field(default_factory=list)
    accounting: Accounting | None = None
    isolation: list[str] = field(default_factory=list)
    misrouted: list[str] = field(default_factory=list)
    disordered: list[str] = field(default_factory=list)
    collisions: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    scanned: dict[str, int] = field(default_factory=dict)
    emulator_calls: dict[str, int] = field(default_factory=dict)
    invalid_kinds: Counter[str] = field(default_factory=Counter)
    log_tail: str = ""


# ---------------------------------------------------------------- workload
def workload(plan: ChaosPlan) -> list[SampleEvent]:
    """Seeded sample events, mixed envelopes, with one failing and one hanging dataset."""
    end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    data = generate(
        tenants=plan.tenants, products=plan.products, days=plan.days, seed=plan.seed, end=end
    )
    data = _with_fault_datasets(data)
    return list(
        sample_events(
            data, days_per_event=plan.days_per_event, invalid=plan.invalid, envelope="mixed"
        )
    )


def _with_fault_datasets(data: SampleData) -> SampleData:
    """The first tenant's second product fails in every job; the last tenant's first product
    moves to a tenant of its own (so only it hangs: a job holding it never ends, and the job
    timeout fails every dataset of that job)."""
    first, last = data.tenants[0], data.tenants[-1]

    def renamed(d: Dataset) -> Dataset:
        if d.tenant_id == first and d.dataset_id.endswith("00002"):
            return dataclasses.replace(d, dataset_id=FAIL_GLOB.replace("*", d.dataset_id))
        if d.tenant_id == last and d.dataset_id.endswith("00001"):
            stuck = HANG_GLOB.replace("*", d.dataset_id)
            return dataclasses.replace(d, tenant_id=STUCK_TENANT, dataset_id=stuck)
        return d

    return dataclasses.replace(data, datasets=tuple(renamed(d) for d in data.datasets))


def _data_of(event: SampleEvent) -> dict[str, Any]:
    try:
        body = json.loads(event.value)
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    binary = any(k == "ce_specversion" for k, _ in event.headers)
    data = body if binary or "specversion" not in body else body.get("data")
    return data if isinstance(data, dict) else {}


def transaction_ids(event: SampleEvent) -> frozenset[str]:
    """The transaction ids a valid event carries (empty for invalid ones)."""
    if not event.expected_valid:
        return frozenset()
    lines = _data_of(event).get("transactions") or []
    return frozenset(str(t["transactionId"]) for t in lines if isinstance(t, dict))


def waves_of(events: Sequence[SampleEvent], count: int) -> list[list[SampleEvent]]:
    """``events`` cut into ``count`` consecutive waves (each dataset's chunks stay in order)."""
    size = -(-len(events) // max(1, count))
    return [list(events[i : i + size]) for i in range(0, len(events), size)]


async def produce_wave(
    bootstrap: str, topic: str, wave: Sequence[SampleEvent]
) -> list[InputRecord]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, e.value, key=e.key, headers=list(e.headers)) for e in wave
        ]
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    now_ms = int(time.time() * 1000)
    return [
        InputRecord(
            partition=m.partition,
            offset=m.offset,
            key=e.key,
            value=e.value,
            timestamp_ms=m.timestamp if m.timestamp and m.timestamp > 0 else now_ms,
            valid=e.expected_valid,
            tenant=e.tenant_id,
            dataset=e.dataset_id,
            transaction_ids=transaction_ids(e),
            label=e.label,
        )
        for e, m in zip(wave, metas, strict=True)
    ]


# ---------------------------------------------------------------- reading outputs
class TopicReader:
    """Reads topics from the beginning and keeps every record (no consumer group)."""

    def __init__(self, bootstrap: str, topics: Sequence[str], *, read_committed: bool) -> None:
        self.records: list[OutputRecord] = []
        self._consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed" if read_committed else "read_uncommitted",
            metadata_max_age_ms=1000,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def poll(self, timeout_ms: int = 300) -> int:
        got = await self._consumer.getmany(timeout_ms=timeout_ms)
        new = [
            OutputRecord(
                tp.topic,
                tp.partition,
                r.offset,
                r.key,
                r.value,
                tuple(r.headers or ()),
                r.timestamp,
            )
            for tp, recs in got.items()
            for r in recs
        ]
        self.records += new
        return len(new)

    async def at_end(self) -> bool:
        assigned: list[TopicPartition] = list(self._consumer.assignment())
        if not assigned:
            return False
        ends = await self._consumer.end_offsets(assigned)
        for tp in assigned:
            if await self._consumer.position(tp) < ends[tp]:
                return False
        return True

    async def drain(self, timeout_s: float, quiet_s: float = 2.0) -> None:
        """Read until at the end of every partition and quiet for ``quiet_s`` (or timeout)."""
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            if await self.poll(300):
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s and await self.at_end():
                return


# ---------------------------------------------------------------- the service, supervised
class Supervisor:
    """Keeps one io-bridge process running, as a platform would: restarts it when it exits."""

    def __init__(self, service: ServiceProcess, http_port: int, log: Log) -> None:
        self.service = service
        self.port = http_port
        self.log = log
        self.kills = 0
        self.early_kills = 0
        self.self_exits: list[str] = []

    def start(self) -> None:
        self.service.start()

    def kill_and_restart(self, *, early: bool) -> None:
        self.service.kill()
        self.kills += 1
        self.early_kills += early
        self.log(f"SIGKILL #{self.kills}{' (early)' if early else ''}; restarting")
        self.start()

    def check(self) -> None:
        """Restart a process that ended on its own (counted: io-bridge should not do that)."""
        proc = self.service.proc
        if proc is not None and (code := proc.poll()) is not None:
            tail = _tail(self.service.log_path, 15)
            self.self_exits.append(f"exit {code}: {tail}")
            self.log(f"service exited by itself with {code}; restarting")
            self.start()

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    async def ready(self, timeout_s: float = 120.0) -> None:
        async with asyncio.timeout(timeout_s), httpx.AsyncClient(timeout=2.0) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    answer = await client.get(f"http://127.0.0.1:{self.port}/readyz")
                    if answer.status_code == 200:
                        return
                await asyncio.sleep(0.2)

    async def metrics(self) -> str:
        async with httpx.AsyncClient(timeout=5.0) as client:
            with contextlib.suppress(httpx.HTTPError):
                return (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text
        return ""


def allowed_states(record: InputRecord) -> frozenset[str]:
    """The final states an input of this workload may end in."""
    if not record.valid:
        return frozenset({"dlq"})
    if fnmatch.fnmatch(record.dataset, FAIL_GLOB):
        return frozenset({"dataset-failed:validation"})
    if fnmatch.fnmatch(record.dataset, HANG_GLOB):
        return frozenset({"dataset-failed:timeout"})
    # Not validation: the failing dataset must not sink its batch-mates (README).
    return NORMAL_STATES


def _tail(path: Path, lines: int) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ---------------------------------------------------------------- emulator faults
class Emulator:
    """The emulator's admin API: run-time knobs and counters."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.storms = 0

    async def patch(self, **knobs: object) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10.0) as client:
            (await client.patch("/_emulator/config", json=knobs)).raise_for_status()

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10.0) as client:
            answer = await client.get("/_emulator/stats")
            answer.raise_for_status()
            stats: dict[str, Any] = answer.json()
            return stats

    async def token(self, client_id: str, client_secret: str) -> str:
        """An access token for the same credentials the service uses: its shape is what leaks
        would look like."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10.0) as client:
            for _ in range(20):  # the 5xx knob applies to the token endpoint too
                answer = await client.post(
                    "/connect/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": client_id,
                        "client_secret": client_secret,
                    },
                )
                if answer.status_code == 200:
                    return str(answer.json()["access_token"])
                await asyncio.sleep(0.2)
        raise RuntimeError("the emulator issued no token")

    async def storm_loop(self, plan: ChaosPlan, rng: random.Random, stop: asyncio.Event) -> None:
        """429 storms with Retry-After: on for ``storm_seconds`` every few seconds."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(*plan.storm_gap))
            if stop.is_set():
                return
            await self.patch(rate_429=plan.storm_rate_429)
            self.storms += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), plan.storm_seconds)
            await self.patch(rate_429=0.0)


def emulator_config(plan: ChaosPlan, client_id: str, client_secret: str) -> EmulatorConfig:
    return EmulatorConfig(
        client_id=client_id,
        client_secret=client_secret,  # type: ignore[arg-type] # pydantic converts to SecretStr
        rate_5xx=plan.rate_5xx,
        retry_after_seconds=plan.retry_after_seconds,
        token_lifetime_seconds=plan.token_lifetime_seconds,
        job_seconds=plan.job_seconds,
        job_seconds_per_dataset=plan.job_seconds_per_dataset,
        fail_datasets=(FAIL_GLOB,),
        hang_datasets=(HANG_GLOB,),
        seed=plan.seed,
    )


def service_settings(
    plan: ChaosPlan, bootstrap: str, emulator_url: str, client_id: str, client_secret: str
) -> Settings:
    return pipeline_settings(
        bootstrap,
        emulator_url,
        http_port=free_port_pair(),
        io_client_id=client_id,
        io_client_secret=client_secret,
        job_timeout_validation_seconds=plan.validation_timeout_seconds,
        job_timeout_training_seconds=plan.job_timeout_seconds,
        job_timeout_prediction_seconds=plan.job_timeout_seconds,
        job_timeout_classification_seconds=plan.job_timeout_seconds,
        exactly_once=plan.exactly_once,
        batch_linger_seconds=1.0,
    )


def output_topics(s: Settings) -> OutputTopics:
    return OutputTopics(
        prediction=s.topic_prediction_ready,
        failed=s.topic_dataset_failed,
        dlq=s.topic_dlq,
        classification=s.topic_classification_ready,
        input=s.topic_sales_updated,
    )


# ---------------------------------------------------------------- the run
def schedule(plan: ChaosPlan) -> list[str]:
    """The chaos steps in order: ``kill`` × kills with ``broker`` restarts spread among them."""
    steps = ["kill"] * plan.kills
    for i in range(plan.broker_restarts, 0, -1):
        steps.insert(round(i * plan.kills / (plan.broker_restarts + 1)), "broker")
    return steps


async def restart_broker(broker: LocalKafka, down_s: float) -> float:
    began = time.monotonic()
    await asyncio.to_thread(broker.stop)
    await asyncio.sleep(down_s)
    deadline = time.monotonic() + 30
    while not (port_is_free(broker.port) and port_is_free(broker.port + 1)):
        if time.monotonic() > deadline:
            raise RuntimeError("the broker's ports stayed busy after stop")
        await asyncio.sleep(0.2)
    await asyncio.to_thread(broker.start, fresh=False)
    return time.monotonic() - began


async def run_chaos(plan: ChaosPlan, workdir: Path, log: Log) -> ChaosReport:
    """One full run in ``workdir`` (broker data, service log); see the module docstring."""
    report = ChaosReport(plan)
    began = time.monotonic()
    rng = random.Random(f"chaos/{plan.seed}")
    events = workload(plan)
    report.invalid_kinds = Counter(e.label for e in events if not e.expected_valid)
    broker = LocalKafka(home=workdir / "kafka", port=free_port_pair())
    log(f"starting broker on {broker.bootstrap}")
    await asyncio.to_thread(broker.start, fresh=True)
    client_id, client_secret = "chaos-client", f"chaos-secret-{secrets.token_hex(12)}"
    try:
        with ServerThread(create_app(emulator_config(plan, client_id, client_secret))) as url:
            settings = service_settings(plan, broker.bootstrap, url, client_id, client_secret)
            await _run(plan, report, rng, events, broker, Emulator(url), settings, workdir, log)
    finally:
        await asyncio.to_thread(broker.stop)
    report.wall_seconds = time.monotonic() - began
    return report


async def _run(
    plan: ChaosPlan,
    report: ChaosReport,
    rng: random.Random,
    events: list[SampleEvent],
    broker: LocalKafka,
    emulator: Emulator,
    settings: Settings,
    workdir: Path,
    log: Log,
) -> None:
    topics = output_topics(settings)
    token = await emulator.token(
        settings.io_client_id, settings.io_client_secret.get_secret_value()
    )
    service = ServiceProcess(settings, workdir / "service.log")
    supervisor = Supervisor(service, settings.http_port, log)
    stop_watch, stop_storms = asyncio.Event(), asyncio.Event()
    supervisor.start()
    watcher = asyncio.create_task(supervisor.watch(stop_watch))
    storms = asyncio.create_task(
        emulator.storm_loop(plan, random.Random(f"storms/{plan.seed}"), stop_storms)
    )
    metrics_text = ""
    try:
        await supervisor.ready()
        log("service ready; chaos begins")
        chaos_began = time.monotonic()
        await _chaos(plan, report, rng, events, broker, supervisor, settings, log)
        report.chaos_seconds = time.monotonic() - chaos_began
        settle_began = time.monotonic()
        reader = TopicReader(
            broker.bootstrap,
            [topics.prediction, topics.failed, topics.dlq, topics.classification],
            read_committed=plan.exactly_once,
        )
        await reader.start()
        try:
            await _settle(reader, report, topics, plan.settle_timeout_s)
            report.settle_seconds = time.monotonic() - settle_began
            log(f"settled in {report.settle_seconds:.0f}s")
            await supervisor.ready(60)
            metrics_text = await supervisor.metrics()
        finally:
            stop_storms.set()
            stop_watch.set()
            await asyncio.gather(watcher, storms, return_exceptions=True)
            report.final_exit = await asyncio.to_thread(_terminate, service)
            log(f"service stopped with {report.final_exit}")
            await reader.drain(timeout_s=30)
            await reader.stop()
        report.outputs = reader.records
        state = TopicReader(broker.bootstrap, [settings.topic_state], read_committed=False)
        await state.start()
        try:
            await state.drain(timeout_s=30)
        finally:
            await state.stop()
        report.emulator_calls = _call_counts(await emulator.stats())
    finally:
        stop_storms.set()
        stop_watch.set()
        await asyncio.gather(watcher, storms, return_exceptions=True)
        service.kill()
    report.kills, report.early_kills = supervisor.kills, supervisor.early_kills
    report.self_exits = supervisor.self_exits
    report.storms = emulator.storms
    report.accounting = account(report.inputs, report.outputs, topics)
    report.isolation = isolation_violations(report.inputs, report.outputs, topics)
    report.misrouted = misrouted(report.inputs, report.outputs, topics, allowed_states)
    report.disordered = order_violations(report.outputs, topics)
    report.collisions = ce_id_collisions(report.outputs, topics)
    probe = SecretProbe(
        exact={
            "client secret": settings.io_client_secret.get_secret_value(),
            "fetched access token": token,
            "access token signature": token.rsplit(".", 1)[-1],
        },
        shapes={"access token": token_shape(token), "presigned signature": PRESIGNED_SIGNATURE},
    )
    log_text = service.log_path.read_text(errors="replace")
    texts = [("service log", log_text), ("/metrics", metrics_text)]
    texts += list(texts_of(report.outputs)) + list(texts_of(state.records))
    report.secrets = [f for where, text in texts for f in probe.findings(where, text)]
    report.scanned = {
        "log bytes": len(log_text),
        "metrics bytes": len(metrics_text),
        "output records": len(report.outputs),
        "changelog records": len(state.records),
    }
    report.log_tail = _tail(service.log_path, 30)


def _terminate(service: ServiceProcess) -> int:
    try:
        return service.terminate(timeout_s=40)
    except Exception:  # noqa: BLE001 - a stop that needed SIGKILL is reported, not raised
        return -9


async def _chaos(
    plan: ChaosPlan,
    report: ChaosReport,
    rng: random.Random,
    events: list[SampleEvent],
    broker: LocalKafka,
    supervisor: Supervisor,
    settings: Settings,
    log: Log,
) -> None:
    steps = schedule(plan)
    waves = waves_of(events, plan.waves)
    wave_before = {
        min(len(steps), round(i * len(steps) / len(waves))): i for i in range(len(waves))
    }
    topic = settings.topic_sales_updated
    for n, step in enumerate([*steps, "end"]):
        for i in sorted(w for at, w in wave_before.items() if at == n):
            report.inputs += await produce_wave(broker.bootstrap, topic, waves[i])
            log(f"wave {i + 1}/{len(waves)}: {len(waves[i])} records produced")
        if step == "end":
            break
        early = step == "kill" and rng.random() < plan.early_kill_share
        if not early:
            await supervisor.ready()
        await asyncio.sleep(rng.uniform(0.3, 2.5) if early else rng.uniform(*plan.kill_after))
        if step == "kill":
            supervisor.kill_and_restart(early=early)
        else:
            log("stopping the broker")
            took = await restart_broker(broker, rng.uniform(*plan.broker_down_seconds))
            report.broker_restarts += 1
            report.broker_restart_seconds.append(took)
            log(f"broker back after {took:.1f}s")
    for leftover in sorted(set(range(len(waves))) - set(wave_before.values())):
        report.inputs += await produce_wave(broker.bootstrap, topic, waves[leftover])


async def _settle(
    reader: TopicReader, report: ChaosReport, topics: OutputTopics, timeout_s: float
) -> None:
    """Read outcomes until every input is named by one (or the timeout)."""
    wanted = {i.position for i in report.inputs}
    deadline = time.monotonic() + timeout_s
    seen: set[tuple[int, int]] = set()
    checked = 0
    while time.monotonic() < deadline:
        await reader.poll(500)
        if len(reader.records) != checked:
            seen = covered(reader.records, topics)
            checked = len(reader.records)
            if wanted <= seen:
                return


def _call_counts(stats: dict[str, Any]) -> dict[str, int]:
    calls: dict[str, dict[str, int]] = stats.get("calls", {})
    by_status: Counter[str] = Counter()
    for statuses in calls.values():
        for status, n in statuses.items():
            by_status[str(status)] += int(n)
    return {
        "total": sum(by_status.values()),
        "500": by_status.get("500", 0),
        "429": by_status.get("429", 0),
        "403": by_status.get("403", 0),
        "token": sum(calls.get("token", {}).values()),
        **{f"jobs {k}": int(v) for k, v in stats.get("jobs_started", {}).items()},
    }


# ---------------------------------------------------------------- verdict and table
def verdict(report: ChaosReport) -> list[str]:
    """Everything that breaks a promise (empty: the run upheld every one)."""
    acc = report.accounting
    problems: list[str] = []
    if acc is None:
        return ["no accounting (the run did not finish)"]
    if acc.lost:
        problems.append(f"{len(acc.lost)} input(s) lost: {acc.lost[:10]}")
    if acc.unexpected:
        problems.append(f"outputs name inputs never produced: {acc.unexpected[:10]}")
    if acc.unrecognisable:
        problems.append(
            f"{len(acc.unrecognisable)} input(s) with unrecognisable duplicates (different "
            f"ce_ids / outcome kinds): {acc.unrecognisable[:10]}"
        )
    if report.plan.exactly_once and (acc.duplicated_inputs or acc.duplicate_ce_ids):
        problems.append(
            f"exactly-once: {acc.duplicated_inputs} duplicated input(s), "
            f"{acc.duplicate_ce_ids} repeated ce_id(s) visible to read_committed"
        )
    problems += [f"tenant isolation: {p}" for p in report.isolation[:20]]
    problems += [f"wrong final state: {p}" for p in report.misrouted[:20]]
    problems += [f"out of order: {p}" for p in report.disordered[:20]]
    problems += [f"one ce_id, two events: {p}" for p in report.collisions[:20]]
    problems += [f"secret: {s}" for s in report.secrets]
    if report.self_exits:
        problems.append(f"the service exited by itself {len(report.self_exits)} time(s)")
        problems += report.self_exits[:3]
    if report.final_exit != 0:
        problems.append(f"graceful stop ended with {report.final_exit}")
    if report.kills < report.plan.kills:
        problems.append(f"only {report.kills} of {report.plan.kills} kills happened")
    return problems


def table(report: ChaosReport) -> str:
    """The accounting table of a run, for people."""
    p, acc = report.plan, report.accounting
    calls = report.emulator_calls
    total = calls.get("total", 0)
    rows: list[tuple[str, str]] = [
        ("seed / mode", f"{p.seed} / {'exactly-once' if p.exactly_once else 'at-least-once'}"),
        (
            "wall time",
            f"{report.wall_seconds:.0f}s (chaos {report.chaos_seconds:.0f}s, "
            f"settle {report.settle_seconds:.0f}s)",
        ),
        ("SIGKILLs survived", f"{report.kills} ({report.early_kills} during start-up)"),
        (
            "broker restarts",
            f"{report.broker_restarts} "
            f"({', '.join(f'{s:.0f}s' for s in report.broker_restart_seconds)} down→ready)",
        ),
        ("service self-exits", str(len(report.self_exits))),
        ("graceful stop exit", str(report.final_exit)),
        (
            "faults",
            f"5xx {p.rate_5xx:.0%}; {report.storms} 429 storms "
            f"({p.storm_rate_429:.0%} for {p.storm_seconds}s, Retry-After "
            f"{p.retry_after_seconds:.0f}s); token life {p.token_lifetime_seconds:.0f}s; "
            f"jobs {p.job_seconds}s+{p.job_seconds_per_dataset}s/dataset; "
            f"fail {FAIL_GLOB}, hang {HANG_GLOB} (validation timeout "
            f"{p.validation_timeout_seconds:.0f}s)",
        ),
        (
            "emulator answers",
            f"{total} calls: 500 {calls.get('500', 0)} ({percent(calls.get('500', 0), total)}), "
            f"429 {calls.get('429', 0)} ({percent(calls.get('429', 0), total)}), "
            f"403 {calls.get('403', 0)}, token requests {calls.get('token', 0)}",
        ),
        (
            "jobs started",
            ", ".join(f"{k[5:]} {v}" for k, v in calls.items() if k.startswith("jobs ")),
        ),
    ]
    if acc is not None:
        kinds = acc.by_kind
        rows += [
            (
                "inputs",
                f"{acc.inputs} ({acc.valid_inputs} valid, {acc.inputs - acc.valid_inputs} "
                f"invalid: {len(report.invalid_kinds)} kinds)",
            ),
            (
                "final state of inputs",
                f"prediction-ready {kinds['prediction-ready']}, dataset-failed "
                f"{kinds['dataset-failed']} ("
                + ", ".join(
                    f"{k.split(':')[1]} {v}"
                    for k, v in sorted(acc.by_state.items())
                    if k.startswith("dataset-failed:")
                )
                + f"), DLQ {kinds['dlq']}",
            ),
            (
                "output records",
                ", ".join(f"{k} {v}" for k, v in sorted(acc.records_by_topic.items())),
            ),
            ("accounted / lost", f"{acc.accounted}/{acc.inputs} / {len(acc.lost)}"),
            (
                "duplicates",
                f"{acc.duplicated_inputs} input(s) ({percent(acc.duplicated_inputs, acc.inputs)}),"
                f" {acc.duplicate_records} extra record(s), {acc.duplicate_ce_ids} repeated "
                f"ce_id(s), unrecognisable {len(acc.unrecognisable)}",
            ),
            ("end-to-end", e2e_summary(acc)),
        ]
    rows += [
        ("wrong final states", str(len(report.misrouted))),
        ("out-of-order predictions", str(len(report.disordered))),
        ("ce_id reused by another event", str(len(report.collisions))),
        ("tenant isolation", f"{len(report.isolation)} violation(s)"),
        (
            "secrets",
            f"{len(report.secrets)} finding(s) in "
            + ", ".join(f"{k} {v}" for k, v in report.scanned.items()),
        ),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


def summary(report: ChaosReport) -> dict[str, Any]:
    """The figures of a run as JSON-ready values (for docs/RELIABILITY.md)."""
    acc = report.accounting
    out: dict[str, Any] = {
        "plan": dataclasses.asdict(report.plan),
        "wall_seconds": round(report.wall_seconds, 1),
        "kills": report.kills,
        "early_kills": report.early_kills,
        "broker_restarts": report.broker_restarts,
        "storms": report.storms,
        "self_exits": len(report.self_exits),
        "final_exit": report.final_exit,
        "emulator_calls": report.emulator_calls,
        "isolation_violations": len(report.isolation),
        "misrouted": len(report.misrouted),
        "out_of_order": len(report.disordered),
        "ce_id_collisions": len(report.collisions),
        "secret_findings": len(report.secrets),
        "problems": verdict(report),
    }
    if acc is not None:
        out |= {
            "inputs": acc.inputs,
            "valid_inputs": acc.valid_inputs,
            "final_states": dict(acc.by_state),
            "output_records": dict(acc.records_by_topic),
            "lost": len(acc.lost),
            "duplicated_inputs": acc.duplicated_inputs,
            "duplicate_rate": round(acc.duplicate_rate, 4),
            "duplicate_records": acc.duplicate_records,
            "duplicate_ce_ids": acc.duplicate_ce_ids,
            "unrecognisable": len(acc.unrecognisable),
            "e2e_p50_s": round(acc.e2e(0.5), 1),
            "e2e_p95_s": round(acc.e2e(0.95), 1),
            "e2e_max_s": round(max(acc.e2e_seconds, default=0.0), 1),
        }
    return out


# ---------------------------------------------------------------- command line
def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    defaults = ChaosPlan()
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--broker-restarts", type=int, default=1)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--products", type=int, default=8)
    parser.add_argument("--days", type=int, default=540)
    parser.add_argument("--days-per-event", type=int, default=60)
    parser.add_argument("--invalid", type=int, default=20)
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--exactly-once", action="store_true")
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    parser.add_argument("--json", type=Path, help="write the figures of the run here")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (broker, log)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    plan = ChaosPlan(
        seed=args.seed,
        tenants=args.tenants,
        products=args.products,
        days=args.days,
        days_per_event=args.days_per_event,
        invalid=args.invalid,
        waves=args.waves,
        kills=args.kills,
        broker_restarts=args.broker_restarts,
        exactly_once=args.exactly_once,
        settle_timeout_s=args.settle_timeout,
    )
    workdir = Path(tempfile.mkdtemp(prefix="iob-chaos-"))
    began = time.monotonic()

    def log(line: str) -> None:
        sys.stderr.write(f"[{time.monotonic() - began:6.1f}s] {line}\n")

    try:
        report = asyncio.run(run_chaos(plan, workdir, log))
    finally:
        if args.keep:
            log(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    problems = verdict(report)
    sys.stdout.write(f"chaos run\n{table(report)}\n")
    if args.json:
        args.json.write_text(json.dumps(summary(report), indent=2) + "\n")
    for problem in problems:
        sys.stdout.write(f"FAIL: {problem}\n")
    sys.stdout.write("PASS\n" if not problems else "")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["ChaosPlan", "ChaosReport", "run_chaos", "summary", "table", "verdict"]
