"""The service's ``/metrics`` page as numbers the progress view can show.

The demo runs io-bridge as its own process, so it reads the same Prometheus exposition an
operator's scraper would (names from :mod:`service.metrics`) rather than reaching into the
service's objects.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

PREFIX = "io_bridge_"
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Snapshot:
    """Sample values by metric name (without the ``io_bridge_`` prefix) and label set."""

    samples: dict[str, dict[Labels, float]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        """Parse a text exposition; samples of other prefixes are ignored."""
        samples: dict[str, dict[Labels, float]] = defaultdict(dict)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith(PREFIX):
                    labels = tuple(sorted(sample.labels.items()))
                    samples[sample.name.removeprefix(PREFIX)][labels] = float(sample.value)
        return cls(dict(samples))

    def total(self, name: str, **match: str) -> float:
        """Sum of ``name`` over the label sets that carry every ``match`` label value."""
        wanted = set(match.items())
        return sum(v for labels, v in self.samples.get(name, {}).items() if wanted <= set(labels))

    def by(self, name: str, label: str) -> dict[str, float]:
        """``name`` summed per value of one label (zero entries dropped)."""
        found: dict[str, float] = defaultdict(float)
        for labels, value in self.samples.get(name, {}).items():
            found[dict(labels).get(label, "")] += value
        return {k: v for k, v in sorted(found.items()) if v}

    # ------------------------------------------------------------ the view's numbers
    @property
    def consumed(self) -> int:
        return int(self.total("events_consumed_total"))

    @property
    def invalid(self) -> int:
        return int(self.total("events_invalid_total"))

    @property
    def dlq(self) -> int:
        return int(self.total("dlq_records_total"))

    @property
    def batches(self) -> int:
        return int(self.total("batches_flushed_total"))

    @property
    def runs_in_flight(self) -> int:
        return int(self.total("runs_in_flight"))

    @property
    def runs(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.by("runs", "state").items()}

    @property
    def runs_ended(self) -> dict[str, int]:
        """Runs that reached DONE or FAILED."""
        ended = self.by("run_transitions_total", "state")
        return {k: int(v) for k, v in ended.items() if k in ("DONE", "FAILED")}

    @property
    def jobs_started(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.by("jobs_started_total", "kind").items()}

    @property
    def jobs_failed(self) -> int:
        finished = self.samples.get("jobs_finished_total", {})
        return int(
            sum(v for labels, v in finished.items() if dict(labels).get("outcome") != "success")
        )

    @property
    def published(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.by("events_published_total", "type").items()}

    @property
    def api_requests(self) -> int:
        return int(self.total("io_api_requests_total"))

    @property
    def api_errors(self) -> int:
        by_class = self.by("io_api_requests_total", "status_class")
        return int(sum(v for k, v in by_class.items() if k not in ("2xx", "3xx")))

    @property
    def retries(self) -> int:
        return int(self.total("io_api_retries_total"))

    @property
    def datasets_failed(self) -> int:
        return int(self.total("datasets_failed_total"))

    @property
    def lag(self) -> int:
        return int(self.total("consumer_lag"))
