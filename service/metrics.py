"""Every Prometheus collector of io-bridge, owned by one injected :class:`Metrics` object.

Built on a registry passed in (never the global one), names follow Prometheus conventions:
prefix ``io_bridge_``, base units, ``_total`` counters, ``_seconds`` durations. No tenant or
dataset ids as labels: label values come from small closed sets (operation, kind, state, …) or
the input partition number.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "io_bridge"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_JOB_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_COUNT_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
_BYTES_BUCKETS = (1e3, 1e4, 1e5, 5e5, 1e6, 2e6, 4e6, 8e6, 16e6)


class Metrics:
    """The service's collectors; also the IO API client's observer (``IoApiObserver``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._input(registry)
        self._runs(registry)
        self._api(registry)
        self._kafka(registry)

    def _input(self, r: CollectorRegistry) -> None:
        self.events_consumed = Counter(
            f"{PREFIX}_events_consumed_total", "Input records consumed", registry=r
        )
        self.events_invalid = Counter(
            f"{PREFIX}_events_invalid_total", "Input records rejected", ["reason"], registry=r
        )
        self.dlq_records = Counter(
            f"{PREFIX}_dlq_records_total", "Records written to the dead-letter topic", registry=r
        )
        self.batches_flushed = Counter(
            f"{PREFIX}_batches_flushed_total", "Batches flushed into runs", ["trigger"], registry=r
        )
        self.batch_datasets = Histogram(
            f"{PREFIX}_batch_datasets",
            "Datasets per flushed batch",
            buckets=_COUNT_BUCKETS,
            registry=r,
        )
        self.batch_bytes = Histogram(
            f"{PREFIX}_batch_bytes",
            "Input bytes per flushed batch",
            buckets=_BYTES_BUCKETS,
            registry=r,
        )
        self.pending_batch_bytes = Gauge(
            f"{PREFIX}_pending_batch_bytes", "Input bytes held in unflushed batches", registry=r
        )
        self.partitions_paused = Gauge(
            f"{PREFIX}_partitions_paused",
            "Owned input partitions not read because of back-pressure",
            registry=r,
        )

    def _runs(self, r: CollectorRegistry) -> None:
        self.runs = Gauge(f"{PREFIX}_runs", "Runs by current state", ["state"], registry=r)
        self.run_transitions = Counter(
            f"{PREFIX}_run_transitions_total", "Run state transitions", ["state"], registry=r
        )
        self.runs_in_flight = Gauge(
            f"{PREFIX}_runs_in_flight", "Runs not yet DONE or FAILED", registry=r
        )
        self.jobs_started = Counter(
            f"{PREFIX}_jobs_started_total", "IO jobs started", ["kind"], registry=r
        )
        self.jobs_finished = Counter(
            f"{PREFIX}_jobs_finished_total", "IO jobs ended", ["kind", "outcome"], registry=r
        )
        self.job_duration = Histogram(
            f"{PREFIX}_job_duration_seconds",
            "IO job duration from start to end",
            ["kind"],
            buckets=_JOB_BUCKETS,
            registry=r,
        )
        self.events_published = Counter(
            f"{PREFIX}_events_published_total", "Output events published", ["type"], registry=r
        )
        self.datasets_failed = Counter(
            f"{PREFIX}_datasets_failed_total",
            "dataset-failed events by stage",
            ["stage"],
            registry=r,
        )
        self.last_progress = Gauge(
            f"{PREFIX}_last_progress_timestamp_seconds",
            "Unix time of the last progress",
            registry=r,
        )

    def _api(self, r: CollectorRegistry) -> None:
        self.api_requests = Counter(
            f"{PREFIX}_io_api_requests_total",
            "IO API requests by outcome",
            ["operation", "status_class"],
            registry=r,
        )
        self.api_latency = Histogram(
            f"{PREFIX}_io_api_request_duration_seconds",
            "IO API request latency",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.api_retries = Counter(
            f"{PREFIX}_io_api_retries_total", "IO API retries", ["operation", "reason"], registry=r
        )
        self.rate_limit_wait = Counter(
            f"{PREFIX}_io_api_rate_limit_wait_seconds_total",
            "Seconds callers waited for the client-side limiter or a Retry-After",
            registry=r,
        )
        self.webhooks = Counter(
            f"{PREFIX}_webhooks_received_total",
            "Job callbacks received, by outcome (accepted, unauthorized, invalid)",
            ["outcome"],
            registry=r,
        )
        self.token_refreshes = Counter(
            f"{PREFIX}_io_api_token_refreshes_total", "Token fetches", ["outcome"], registry=r
        )

    def _kafka(self, r: CollectorRegistry) -> None:
        self.consumer_lag = Gauge(
            f"{PREFIX}_consumer_lag",
            "Records behind the end of each input partition",
            ["partition"],
            registry=r,
        )
        self.partitions_assigned = Gauge(
            f"{PREFIX}_partitions_assigned", "Input partitions owned by this instance", registry=r
        )
        self.restore_duration = Histogram(
            f"{PREFIX}_state_restore_duration_seconds",
            "Changelog restore time per assignment",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    # ---------------------------------------------------------------- IoApiObserver
    def request_finished(self, operation: str, status_class: str, seconds: float) -> None:
        self.api_requests.labels(operation, status_class).inc()
        self.api_latency.labels(operation).observe(seconds)

    def rate_limit_waited(self, seconds: float) -> None:
        self.rate_limit_wait.inc(seconds)

    def token_refreshed(self, ok: bool) -> None:
        self.token_refreshes.labels("ok" if ok else "error").inc()

    def retried(self, operation: str, reason: str) -> None:
        self.api_retries.labels(operation, reason).inc()

    # ---------------------------------------------------------------- progress
    def progressed(self) -> None:
        """Mark that a loop did useful work (feeds the no-progress alert)."""
        self.last_progress.set(time.time())
