"""Operability of a running io-bridge: metrics, probes and logs, read the way operators read them.

Metrics and probes are fetched over real HTTP from the service's probe port and the metrics are
parsed as Prometheus exposition text; logs are the JSON lines of a ``python -m service`` process.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.testing import capture_logs

from emulator import EmulatorConfig, create_app
from service.config import Settings
from service.devkit.sample_data import Dataset, SampleData, SampleEvent, generate
from service.devkit.sample_events import events as sample_events
from tests.emulator_fixtures import ServerThread, tls_context
from tests.pipeline_harness import (
    Collected,
    ServiceProcess,
    collect,
    eventually,
    pipeline_settings,
    prefill_changelog,
    produce,
    running_service,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(120)]

# How the service classifies each invalid kind of service.devkit.sample_invalid.
INVALID_REASONS = {"malformed-json": "malformed_json", "non-utf8-bytes": "not_utf8"}
IO_OPERATIONS = {
    "token",
    "presigned_url",
    "upload",
    "status",
    "start_trainer",
    "create_prediction",
    "results",
    "start_classification",
    "classification_results",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Scrape:
    """One parsed /metrics answer: every sample as (name, labels, value)."""

    samples: list[tuple[str, dict[str, str], float]]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        families = text_string_to_metric_families(text)
        return cls([(s.name, s.labels, s.value) for f in families for s in f.samples])

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels``."""
        return sum(v for n, ls, v in self.samples if n == name and labels.items() <= ls.items())

    def by(self, name: str, label: str) -> dict[str, float]:
        """Samples of ``name`` keyed by one label, zero values left out."""
        out: dict[str, float] = {}
        for n, ls, v in self.samples:
            if n == name and v:
                out[ls[label]] = out.get(ls[label], 0.0) + v
        return out


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=5.0, verify=tls_context())


async def scrape(http: httpx.AsyncClient, port: int) -> Scrape:
    answer = await http.get(f"http://127.0.0.1:{port}/metrics")
    answer.raise_for_status()
    return Scrape.parse(answer.text)


async def scrape_until(
    http: httpx.AsyncClient, port: int, settled: Callable[[Scrape], bool], timeout_s: float
) -> Scrape:
    """Scrape until ``settled`` holds for one answer; return that answer."""
    latest: dict[str, Scrape] = {}

    async def check() -> bool:
        latest["metrics"] = await scrape(http, port)
        return settled(latest["metrics"])

    await eventually(check, timeout_s, every_s=0.1)
    return latest["metrics"]


def quiet(metrics: Scrape) -> bool:
    """No run in flight, nothing pending, no lag on any partition that has seen input."""
    lags = [v for n, _, v in metrics.samples if n == "io_bridge_consumer_lag"]
    return (
        metrics.value("io_bridge_runs_in_flight") == 0
        and metrics.value("io_bridge_pending_batch_bytes") == 0
        and bool(lags)
        and not any(lags)
    )


def expected_reasons(records: list[SampleEvent]) -> Counter[str]:
    kinds = [r.label.removeprefix("invalid:") for r in records if not r.expected_valid]
    return Counter(INVALID_REASONS.get(kind, "schema") for kind in kinds)


def predictions_cover(
    settings: Settings, offsets: set[tuple[int, int]]
) -> Callable[[Mapping[str, list[Collected]]], bool]:
    """``collect`` stops once prediction-ready events cover every valid input offset."""

    def done(seen: Mapping[str, list[Collected]]) -> bool:
        covered = {
            (r.value["source"]["partition"], o)
            for r in seen[settings.topic_prediction_ready]
            for o in r.value["source"]["offsets"]
        }
        return covered >= offsets

    return done


@dataclass
class Workload:
    """Two tenants, ten datasets, one invalid event of each of the ten invalid kinds."""

    data: SampleData = field(default_factory=lambda: generate(tenants=2, products=5, days=400))
    records: list[SampleEvent] = field(init=False)

    def __post_init__(self) -> None:
        self.records = list(sample_events(self.data, invalid=10))

    @property
    def priced(self) -> list[Dataset]:
        return [d for d in self.data.datasets if d.has_prices]

    @property
    def valid(self) -> list[SampleEvent]:
        return [r for r in self.records if r.expected_valid]

    async def produce(self, bootstrap: str, topic: str) -> set[tuple[int, int]]:
        """Produce every record; return the (partition, offset) of the valid ones."""
        wire = [(r.key, r.value, r.headers) for r in self.records]
        placed = await produce(bootstrap, topic, wire)
        return {at for at, r in zip(placed, self.records, strict=True) if r.expected_valid}


# ---------------------------------------------------------------- metrics after a real run
async def test_metrics_scraped_over_http_account_for_a_whole_pipeline_run(
    kafka_bootstrap: str, emulator_server: str
) -> None:
    """After a known workload, /metrics counts exactly what happened: inputs, rejects, batches,
    runs, jobs, IO API calls, token fetches, partitions and restores; lag and pending end at 0."""
    work = Workload()
    port = free_port()
    settings = pipeline_settings(kafka_bootstrap, emulator_server, http_port=port)
    started = time.time()
    async with running_service(settings), client() as http:
        offsets = await work.produce(kafka_bootstrap, settings.topic_sales_updated)
        topics = [settings.topic_prediction_ready, settings.topic_dataset_failed]
        seen = await collect(
            kafka_bootstrap, topics, predictions_cover(settings, offsets), timeout_s=60
        )
        m = await scrape_until(http, port, quiet, timeout_s=30)

    assert m.value("io_bridge_events_consumed_total") == len(work.records)
    assert m.by("io_bridge_events_invalid_total", "reason") == expected_reasons(work.records)
    assert m.value("io_bridge_dlq_records_total") == len(work.records) - len(work.valid)
    assert_batches(m, work)
    assert_runs_and_jobs(m)
    published = m.by("io_bridge_events_published_total", "type")
    assert published["prediction-ready"] == len(seen[settings.topic_prediction_ready])
    assert published["classification-ready"] >= len(work.priced)
    assert set(published) == {"prediction-ready", "classification-ready"}
    assert seen[settings.topic_dataset_failed] == []
    assert_io_api(m)
    assert m.value("io_bridge_partitions_assigned") == 3
    assert m.value("io_bridge_state_restore_duration_seconds_count") == 3
    assert started <= m.value("io_bridge_last_progress_timestamp_seconds") <= time.time()
    lags = {ls["partition"]: v for n, ls, v in m.samples if n == "io_bridge_consumer_lag"}
    assert set(lags) <= {"0", "1", "2"}
    assert set(lags.values()) == {0.0}
    assert m.value("io_bridge_pending_batch_bytes") == 0


def assert_batches(m: Scrape, work: Workload) -> None:
    batches = m.value("io_bridge_batches_flushed_total")
    assert batches >= 1
    assert set(m.by("io_bridge_batches_flushed_total", "trigger")) <= {
        "linger",
        "bytes",
        "datasets",
    }
    assert m.value("io_bridge_batch_datasets_count") == batches
    assert m.value("io_bridge_batch_datasets_sum") >= 10  # every dataset in some batch
    assert m.value("io_bridge_batch_bytes_count") == batches
    assert m.value("io_bridge_batch_bytes_sum") == sum(len(r.value) for r in work.valid)


def assert_runs_and_jobs(m: Scrape) -> None:
    """Every prediction run (one per batch) and classification run went through to DONE."""
    batches = m.value("io_bridge_batches_flushed_total")
    started = m.by("io_bridge_jobs_started_total", "kind")
    classifications = started.get("classification", 0)
    assert classifications >= 1
    assert started["validation"] == started["prediction"] == batches
    assert started["training"] >= 1
    transitions = m.by("io_bridge_run_transitions_total", "state")
    assert transitions["DONE"] == batches + classifications
    assert transitions["FETCHING"] == batches + classifications
    assert transitions["VALIDATING"] == transitions["PREDICTING"] == batches
    assert "FAILED" not in transitions
    assert m.by("io_bridge_runs", "state") == {}
    assert m.value("io_bridge_runs_in_flight") == 0
    for kind, count in started.items():
        assert m.value("io_bridge_jobs_finished_total", kind=kind, outcome="success") == count
        assert m.value("io_bridge_jobs_finished_total", kind=kind) == count
        assert m.value("io_bridge_job_duration_seconds_count", kind=kind) == count
    assert m.value("io_bridge_job_duration_seconds_sum") > 0
    assert m.value("io_bridge_datasets_failed_total") == 0


def assert_io_api(m: Scrape) -> None:
    requests = "io_bridge_io_api_requests_total"
    ok = m.by("io_bridge_io_api_requests_total", "operation")
    assert set(ok) == IO_OPERATIONS
    assert all(m.value(requests, operation=op, status_class="2xx") > 0 for op in IO_OPERATIONS)
    assert m.by(requests, "status_class") == {"2xx": m.value(requests)}
    assert m.value("io_bridge_io_api_request_duration_seconds_count") == m.value(requests)
    assert m.value("io_bridge_io_api_retries_total") == 0
    assert m.value("io_bridge_io_api_token_refreshes_total", outcome="ok") >= 1
    assert m.value("io_bridge_io_api_token_refreshes_total", outcome="error") == 0


# ---------------------------------------------------------------- readiness during restore
@dataclass(frozen=True)
class Observed:
    """One round of probing: /readyz, /healthz, then /metrics."""

    status: int | None  # of /readyz; None: nothing listens yet
    detail: str
    live: int | None  # status of /healthz
    after: float  # partitions restored (restore histogram count), read after /healthz


def watch_readiness(port: int, give_up: threading.Event) -> list[Observed]:
    """Probe from before the service listens until /readyz first answers 200. Runs in a thread
    of its own, as a kubelet is a process of its own: an in-process async client would need the
    service's busy event loop for its half of every request too."""
    base = f"http://127.0.0.1:{port}"
    seen: list[Observed] = []
    with httpx.Client(timeout=5.0) as http:
        while (not seen or seen[-1].status != 200) and not give_up.is_set():
            try:
                ready = http.get(f"{base}/readyz")
                live = http.get(f"{base}/healthz")
                after = restored_partitions(http, port)
            except httpx.TransportError:
                seen.append(Observed(None, "", None, 0))
            else:
                text = ready.text.strip()
                seen.append(Observed(ready.status_code, text, live.status_code, after))
            time.sleep(0.02)
    return seen


def restored_partitions(http: httpx.Client, port: int) -> float:
    answer = http.get(f"http://127.0.0.1:{port}/metrics")
    answer.raise_for_status()
    return Scrape.parse(answer.text).value("io_bridge_state_restore_duration_seconds_count")


async def test_readyz_answers_503_until_a_long_changelog_restore_has_finished(
    kafka_bootstrap: str, emulator_server: str
) -> None:
    """With 240,000 changelog records to restore, /readyz is 503 while partitions are
    still being restored and turns 200 only after all three are; /healthz is 200 throughout."""
    port = free_port()
    settings = pipeline_settings(kafka_bootstrap, emulator_server, http_port=port)
    await prefill_changelog(settings, per_partition=80_000)
    give_up = threading.Event()
    watcher = asyncio.create_task(asyncio.to_thread(watch_readiness, port, give_up))
    try:
        with capture_logs() as logs:
            async with running_service(settings):
                probes = await asyncio.wait_for(asyncio.shield(watcher), 60)
    finally:
        give_up.set()
        await watcher

    answered = [p for p in probes if p.status is not None]
    *waiting, last = answered
    assert (last.status, last.detail, last.after) == (200, "ok", 3)
    assert waiting, "the service was ready at its first answer"
    assert {p.status for p in waiting} == {503}
    details = {p.detail for p in waiting}
    assert details <= {"starting", "joining the consumer group"} | {
        d for d in details if d.startswith("restoring partitions [")
    }
    # Counts only grow and /readyz is asked before ``after`` is read: a probe that still saw
    # fewer than three restored after its answer must have been told 503 (and the 200 came
    # with all three restored, asserted above).
    assert all(p.status == 503 for p in answered if p.after < 3)
    assert any(p.after < 3 for p in waiting), "no probe landed while partitions were restoring"
    assert {p.live for p in answered} == {200}
    restored = [
        (e["partition"], e["records"], e["datasets"])
        for e in logs
        if e["event"] == "partition_assigned"
    ]
    assert sorted(restored) == [(p, 80_000, 80_000) for p in range(3)]


# ---------------------------------------------------------------- logs of a service process
@dataclass
class Handed:
    """Everything secret the emulator handed out or received."""

    authorization: set[str] = field(default_factory=set)
    bodies: list[bytes] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)

    def tokens(self) -> set[str]:
        issued = {json.loads(b)["access_token"] for b in self.bodies if b"access_token" in b}
        used = {v.partition(" ")[2] for v in self.authorization}
        return issued | used

    def signatures(self) -> set[str]:
        texts = [b.decode() for b in self.bodies] + self.queries
        return {s for text in texts for s in re.findall(r"signature=([0-9a-fA-F]+)", text)}


class Recorder:
    """ASGI middleware around the emulator: notes Authorization headers, token and presigned
    URL answers and storage query strings (the emulator itself is left as it is)."""

    RECORDED = ("/connect/token", "/io/presigned_url")

    def __init__(self, app: ASGIApp, handed: Handed) -> None:
        self.app = app
        self.handed = handed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if b"authorization" in headers:
            self.handed.authorization.add(headers[b"authorization"].decode())
        if scope["query_string"]:
            self.handed.queries.append(scope["query_string"].decode())
        body = bytearray()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, sending)
        if scope["path"] in self.RECORDED:
            self.handed.bodies.append(bytes(body))


@dataclass
class FullRun:
    log: str
    events: list[dict[str, Any]]
    metrics: Scrape
    handed: Handed
    client_secret: str
    tenants: set[str]
    status: int
    jobs: set[str]  # ids of every job the emulator ran


async def run_process(
    bootstrap: str, emulator_url: str, secret: str, log: Path
) -> tuple[Workload, Scrape, int]:
    """Run the workload through a service process on a probe port it picks itself (port 0:
    no race with other processes for a free port); return its last scrape and exit status."""
    work = Workload()
    settings = pipeline_settings(
        bootstrap, emulator_url, http_port=0, io_client_secret=secret, log_level="debug"
    )
    service = ServiceProcess(settings, log)
    service.start()
    try:
        async with client() as http:
            port = await wait_ready(http, log)
            offsets = await work.produce(bootstrap, settings.topic_sales_updated)
            topics = [settings.topic_prediction_ready]
            await collect(bootstrap, topics, predictions_cover(settings, offsets), timeout_s=60)
            metrics = await scrape_until(http, port, quiet, timeout_s=30)
    finally:
        status = service.terminate()
    return work, metrics, status


def logged_port(log: Path) -> int | None:
    """The probe port from the service's ``service_started`` line, once it is written."""
    for line in log.read_text().splitlines():
        if line.startswith("{") and (event := json.loads(line))["event"] == "service_started":
            return int(event["http_port"])
    return None


async def wait_ready(http: httpx.AsyncClient, log: Path, timeout_s: float = 30.0) -> int:
    """The probe port once the service logged it and /readyz answers 200."""

    async def logged() -> bool:
        return logged_port(log) is not None

    await eventually(logged, timeout_s)
    port = logged_port(log)
    assert port is not None

    async def ready() -> bool:
        return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200

    await eventually(ready, timeout_s)
    return port


@pytest.fixture(scope="module")
def full_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> FullRun:
    """io-bridge as a process with JSON logs at debug level, against an emulator whose tokens
    live one second (so they are refreshed several times) and whose secret is unique."""
    secret = f"client-secret-{uuid.uuid4().hex}"
    config = EmulatorConfig(
        job_seconds=0.2, client_secret=SecretStr(secret), token_lifetime_seconds=1.0
    )
    app = create_app(config)
    handed = Handed()
    app.add_middleware(Recorder, handed=handed)
    log = tmp_path_factory.mktemp("service") / "service.log"
    with ServerThread(app) as url:
        try:
            work, metrics, status = asyncio.run(run_process(kafka_bootstrap, url, secret, log))
        except (TimeoutError, httpx.HTTPError) as exc:
            raise AssertionError(f"service log:\n{log.read_text()[-4000:]}") from exc
    text = log.read_text()
    return FullRun(
        log=text,
        events=[json.loads(line) for line in text.splitlines() if line.startswith("{")],
        metrics=metrics,
        handed=handed,
        client_secret=secret,
        tenants={r.tenant_id for r in work.records},
        status=status,
        jobs={job.id for job in app.emulator.engine.jobs.values()},
    )


def test_the_service_process_ran_the_workload_and_exited_cleanly(full_run: FullRun) -> None:
    """The log checks below look at a real run: work was done, tokens refreshed, exit 0."""
    assert full_run.status == 0, full_run.log[-3000:]
    assert full_run.metrics.value("io_bridge_run_transitions_total", state="DONE") >= 2
    refreshed = [e for e in full_run.events if e["event"] == "io_api.token_refreshed"]
    assert len(refreshed) >= 2
    assert len(full_run.handed.tokens()) >= 2
    assert full_run.handed.signatures()


def test_no_secret_appears_in_the_logs_of_a_full_run(full_run: FullRun) -> None:
    """Neither the client secret, nor any access token the emulator issued or received, nor
    any presigned URL signature occurs anywhere in the service's output."""
    secrets = {
        "client secret": {full_run.client_secret},
        "access token": full_run.handed.tokens(),
        "signature": full_run.handed.signatures(),
    }
    leaked = {kind: [s for s in values if s in full_run.log] for kind, values in secrets.items()}
    assert leaked == {"client secret": [], "access token": [], "signature": []}


def transitions(run: FullRun) -> list[dict[str, Any]]:
    return [e for e in run.events if e["event"] == "run_transition"]


def test_the_json_log_has_one_run_transition_line_per_transition(full_run: FullRun) -> None:
    """run_transition lines match the transition counter state by state, each carries tenant,
    run_id and a job_id field, and each run's lines chain from its first state to DONE."""
    lines = transitions(full_run)
    counted = full_run.metrics.by("io_bridge_run_transitions_total", "state")
    assert Counter(e["state"] for e in lines) == counted
    assert all(e["tenant"] in full_run.tenants for e in lines)
    assert all(isinstance(e["run_id"], str) and e["run_id"] for e in lines)
    assert all("job_id" in e for e in lines)
    runs: dict[str, list[dict[str, Any]]] = {}
    for e in lines:
        runs.setdefault(e["run_id"], []).append(e)
    for chain in runs.values():
        assert chain[0]["previous"] in {"UPLOADING", "CLASSIFYING"}
        assert [e["previous"] for e in chain[1:]] == [e["state"] for e in chain[:-1]]
        assert chain[-1]["state"] == "DONE"
        assert len({e["tenant"] for e in chain}) == 1


def test_every_run_transition_line_names_a_job_and_every_io_job_is_named(
    full_run: FullRun,
) -> None:
    """Each transition names the job it started or ended, so every IO job the emulator ran can
    be found in the log by its id (the runbook asks operators for one)."""
    lines = transitions(full_run)
    assert full_run.jobs
    assert [e for e in lines if not e["job_id"]] == []
    assert full_run.jobs <= {e["job_id"] for e in lines}
