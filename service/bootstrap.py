"""Composition root: the one place that builds concrete adapters from Settings (style.md §3).

Everything is opened inside one ``AsyncExitStack`` and closed in reverse order on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from schemas import io_api
from service.adapters.http_probes import PostHandler, Probe, ProbeServer
from service.adapters.io_api import HttpClient, IoApiClient
from service.adapters.kafka_admin import ensure_topics
from service.adapters.kafka_common import connection_config
from service.adapters.kafka_in import KafkaInput
from service.adapters.kafka_out import KafkaPublisher
from service.adapters.state_changelog import StateChangelog
from service.app import App, AppLimits, Fatal, Health
from service.config import Settings
from service.domain.batching import BatchLimits
from service.domain.policies import ClassificationPolicy, TrainingPolicy
from service.domain.runs import JobKind, PollPolicy
from service.logs import configure_logging
from service.metrics import Metrics
from service.outputs import Topics
from service.partition import PartitionContext
from service.runner import RunDriver, RunnerConfig
from service.webhooks import WebhookReceiver

log = structlog.get_logger(__name__)
LOOP_STALL_SECONDS = 60.0
# The cyclic GC's young-generation threshold while serving (CPython's default is 700). Every
# consumed event leaves several tracked containers (Txn tuples, the event, batch dicts) alive in
# its open batch until flush, so at 700 the collector ran every ~100 events and kept re-walking
# the surviving batch data in its older generations: 5-6 µs of ~20-24 µs CPU per event in
# benchmark 1. At 10,000 that is ~1 µs (50,000: no better). The price: cyclic garbage waits for
# up to 10,000 allocations and a young collection walks more (refcounting frees the rest at once).
# gc.freeze() after start-up alone halved the GC time but gained nothing on top of this.
GC_GEN0_THRESHOLD = 10_000
_gc_tuning: dict[str, int] = {"services": 0}


@contextlib.contextmanager
def gc_tuned() -> Iterator[None]:
    """Raise the GC's young-generation threshold while a service runs in this process (tests run
    several at once); the threshold that was set before comes back when the last one stops."""
    if _gc_tuning["services"] == 0:
        _gc_tuning["saved"], *_ = gc.get_threshold()
        gc.set_threshold(max(GC_GEN0_THRESHOLD, _gc_tuning["saved"]), *gc.get_threshold()[1:])
    _gc_tuning["services"] += 1
    try:
        yield
    finally:
        _gc_tuning["services"] -= 1
        if _gc_tuning["services"] == 0:
            gc.set_threshold(_gc_tuning["saved"], *gc.get_threshold()[1:])


def transactional_id(s: Settings) -> str | None:
    """Exactly-once mode's producer id: stable per replica, so a restarted process fences its
    predecessor and aborts its open transaction at once (instead of after the txn timeout)."""
    if not s.exactly_once:
        return None
    return s.transactional_id or f"{s.group_id}-{s.client_id}-{socket.gethostname()}"


def webhook(s: Settings) -> io_api.Webhook | None:
    """What every job request carries when the webhook fast path is configured."""
    if s.webhook_public_url is None or s.webhook_api_key is None:
        return None
    return io_api.Webhook(webhook_url=s.webhook_public_url, webhook_api_key=s.webhook_api_key)


def poll_policy(s: Settings) -> PollPolicy:
    return PollPolicy(
        first_seconds=s.first_poll_seconds,
        max_seconds=s.poll_max_seconds,
        timeouts={
            JobKind.VALIDATION: s.job_timeout_validation_seconds,
            JobKind.TRAINING: s.job_timeout_training_seconds,
            JobKind.PREDICTION: s.job_timeout_prediction_seconds,
            JobKind.CLASSIFICATION: s.job_timeout_classification_seconds,
        },
    )


def partition_context(
    s: Settings,
    api: IoApiClient,
    publisher: KafkaPublisher,
    changelog: StateChangelog,
    metrics: Metrics,
    crashed: Callable[[BaseException], None],
) -> PartitionContext:
    topics = Topics(s.topic_prediction_ready, s.topic_classification_ready, s.topic_dataset_failed)
    config = RunnerConfig(
        poll_policy(s), topics, s.default_service_level, s.abc_driver, webhook=webhook(s)
    )
    return PartitionContext(
        limits=BatchLimits(s.batch_max_datasets, s.batch_max_bytes, s.batch_linger_seconds),
        training=TrainingPolicy(s.retrain_interval_seconds, s.default_frequency, s.default_horizon),
        classification=ClassificationPolicy(s.classification_interval_seconds),
        driver=RunDriver(api, config, metrics, time.time),
        changelog=changelog,
        publisher=publisher,
        topics=topics,
        metrics=metrics,
        clock=time.time,
        crashed=crashed,
    )


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    metrics: Metrics | None = None,
    io_http: HttpClient | None = None,
    fatal: Fatal | None = None,
) -> None:
    """Run io-bridge until ``stop`` is set (or a run task fails unexpectedly: then raise).

    ``io_http`` lets tests reach an in-process API; ``fatal`` is where run tasks report bugs.
    """
    metrics = metrics or Metrics(CollectorRegistry())
    fatal = fatal or Fatal()
    connection = connection_config(settings)
    await ensure_topics(settings, connection)
    async with AsyncExitStack() as stack:
        stack.enter_context(gc_tuned())
        api = await stack.enter_async_context(IoApiClient.from_settings(settings, io_http, metrics))
        publisher = KafkaPublisher(connection, transactional_id=transactional_id(settings))
        await publisher.start()
        stack.push_async_callback(publisher.stop)
        health = Health(time.monotonic)
        probes = _probe_server(settings, health, publisher, metrics)
        port = await probes.start(settings.http_host, settings.http_port)
        stack.push_async_callback(probes.stop)
        app = build_app(settings, connection, api, publisher, metrics, health, fatal)
        log.info(
            "service_started",
            exactly_once=publisher.transactional,
            group_id=settings.group_id,
            topic=settings.topic_sales_updated,
            io_base_url=settings.io_base_url,
            http_port=port,
        )
        await app.run(stop)
    log.info("service_stopped")


def build_app(
    settings: Settings,
    connection: dict[str, Any],
    api: IoApiClient,
    publisher: KafkaPublisher,
    metrics: Metrics,
    health: Health,
    fatal: Fatal,
) -> App:
    """The application and its consumer and changelog, wired from ``settings``."""
    changelog = StateChangelog(publisher, connection, settings.topic_state)
    consumer = KafkaInput(
        connection,
        topic=settings.topic_sales_updated,
        group_id=settings.group_id,
        max_poll_records=500,
        wake_topic=settings.topic_wakeups if settings.webhooks_enabled else None,
        session_timeout_ms=int(settings.kafka_session_timeout_seconds * 1000),
    )
    limits = AppLimits(
        settings.max_event_bytes,
        settings.max_pending_bytes,
        settings.max_runs_in_flight,
        settings.topic_dlq,
    )
    ctx = partition_context(settings, api, publisher, changelog, metrics, fatal)
    return App(consumer, publisher, changelog, ctx, limits, metrics, health, fatal)


def _probe_server(
    settings: Settings, health: Health, publisher: KafkaPublisher, metrics: Metrics
) -> ProbeServer:
    """/metrics, /healthz, /readyz, and /webhooks/io when the webhook fast path is on."""
    posts: dict[str, PostHandler] = {}
    if settings.webhook_api_key is not None:
        receiver = WebhookReceiver(
            settings.webhook_api_key, publisher, settings.topic_wakeups, metrics
        )
        posts["/webhooks/io"] = receiver.handle
    return ProbeServer(metrics.registry, _liveness(health), _readiness(health), posts)


def _liveness(health: Health) -> Probe:
    def check() -> tuple[bool, str]:
        stale = health.stale_loops(LOOP_STALL_SECONDS)
        return (not stale, f"stalled: {', '.join(stale)}" if stale else "ok")

    return check


def _readiness(health: Health) -> Probe:
    def check() -> tuple[bool, str]:
        if health.restoring:
            return False, f"restoring partitions {sorted(health.restoring)}"
        if not health.ready or not health.joined:
            return False, "starting" if not health.ready else "joining the consumer group"
        if not health.broker_ok:
            return False, "Kafka broker unreachable"
        return True, "ok"

    return check


def run_service() -> int:
    """``io-bridge run``: serve until SIGTERM/SIGINT, then drain within the grace period."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return asyncio.run(_main(settings))


async def _main(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(serve(settings, stop))
    await asyncio.wait(
        [task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
    )
    if not task.done():
        try:
            await asyncio.wait_for(task, settings.shutdown_grace_seconds)
        except TimeoutError:
            log.error("shutdown_timeout", grace_seconds=settings.shutdown_grace_seconds)
            return 1
    with contextlib.suppress(asyncio.CancelledError):
        task.result()
    return 0
