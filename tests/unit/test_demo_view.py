"""The demo's progress view and summary tables, fed by a real /metrics page."""

from __future__ import annotations

import io
from collections import Counter

from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from service.devkit import demo_view
from service.devkit.demo_metrics import Snapshot
from service.devkit.demo_outcomes import Expected, Outcomes, Received
from service.devkit.demo_summary import TenantRow
from service.metrics import Metrics


def busy_metrics() -> Snapshot:
    """The exposition of a Metrics object after some work, parsed back."""
    metrics = Metrics(CollectorRegistry())
    metrics.events_consumed.inc(40)
    metrics.events_invalid.labels("schema").inc(2)
    metrics.events_invalid.labels("malformed_json").inc()
    metrics.dlq_records.inc(3)
    metrics.batches_flushed.labels("linger").inc(4)
    metrics.runs.labels("TRAINING").inc(2)
    metrics.runs_in_flight.inc(2)
    metrics.run_transitions.labels("DONE").inc(5)
    metrics.jobs_started.labels("training").inc(2)
    metrics.jobs_finished.labels("training", "success").inc()
    metrics.jobs_finished.labels("validation", "timeout").inc()
    metrics.events_published.labels("prediction_ready").inc(7)
    metrics.request_finished("status", "2xx", 0.01)
    metrics.request_finished("status", "5xx", 0.01)
    metrics.retried("status", "5xx")
    metrics.consumer_lag.labels("0").set(11)
    return Snapshot.parse(generate_latest(metrics.registry).decode())


def test_the_metrics_page_parses_into_the_numbers_the_view_shows() -> None:
    """Counters, gauges by label and sums over labels come out of the text exposition."""
    m = busy_metrics()
    assert (m.consumed, m.invalid, m.dlq, m.batches) == (40, 3, 3, 4)
    assert m.runs == {"TRAINING": 2}
    assert m.runs_in_flight == 2
    assert m.runs_ended == {"DONE": 5}
    assert m.jobs_started == {"training": 2}
    assert m.jobs_failed == 1
    assert m.published == {"prediction_ready": 7}
    assert (m.api_requests, m.api_errors, m.retries, m.lag) == (2, 1, 1, 11)


def test_an_empty_or_foreign_metrics_page_reads_as_zeros() -> None:
    """Other prefixes are ignored; missing metrics are 0."""
    m = Snapshot.parse("# TYPE other_total counter\nother_total 5.0\n")
    assert (m.consumed, m.runs_in_flight, m.runs) == (0, 0, {})


def progress() -> demo_view.Progress:
    expected = Expected(offsets={(0, 0): ("t1", "a")}, invalid=Counter({"t1": 1}))
    outcomes = Outcomes(expected)
    outcomes.add(Received("dlq", "dlq", 0, 0, b"t1", b"{"))
    return demo_view.Progress("processing", 12.0, 10, 10, 1, 1, outcomes, busy_metrics())


def rendered(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def test_the_live_panel_shows_events_runs_jobs_outputs_and_errors() -> None:
    """Every line of the panel carries its numbers."""
    text = rendered(demo_view.live_panel(progress()))
    assert "processing - 12s" in text
    assert "sent 10/10   consumed 40   lag 11" in text
    assert "rejected 3   in DLQ topic 1" in text
    assert "in flight 2: training 2" in text
    assert "training 2   (failed/timed out 1)" in text
    assert "final outcome 0/1" in text
    assert "2 requests   errors 1   retries 1" in text


def test_the_log_line_carries_the_same_numbers_on_one_line() -> None:
    """For pipes and CI logs: one line, no markup."""
    line = demo_view.log_line(progress())
    assert "\n" not in line
    assert line.startswith("[   12s] processing: sent 10/10 consumed 40 dlq 1")
    assert "datasets done 0/1" in line


def test_the_summary_shows_a_row_per_tenant_a_total_and_api_calls() -> None:
    """Tenant rows, the total row, and calls per operation from the emulator's stats."""
    rows = [
        TenantRow("tenant-001", 3, 2, 9, 1, 1, 3, 0, 2, abc={"A": 1, "C": 1}, demand={"lumpy": 2}),
        TenantRow("tenant-002", 2, 2, 6, 0, 0, 2, 0, 2, abc={"B": 2}, demand={"smooth": 2}),
    ]
    stats = {"calls": {"status": {"200": 30}, "token": {"200": 1}}}
    text = rendered(demo_view.summary(rows, stats, Snapshot()))
    lines = [line.split() for line in text.splitlines()]
    assert ["tenant-001", "3", "9", "3", "0", "2/2", "1/1"] in lines
    assert ["total", "5", "15", "5", "0", "4/4", "1/1"] in lines
    # classes: A B C smooth erratic intermittent lumpy
    assert ["tenant-001", "1", "0", "1", "0", "0", "0", "2"] in lines
    assert ["total", "1", "2", "1", "2", "0", "0", "2"] in lines
    assert ["status", "30"] in lines
    assert ["total", "31"] in lines


def test_the_summary_tables_fit_an_80_column_terminal() -> None:
    """Default-size numbers render without folding or cutting on a classic terminal."""
    rows = [
        TenantRow(
            "tenant-001", 100, 95, 897, 5, 5, 100, 0, 95, abc={"A": 25}, demand={"smooth": 77}
        )
    ]
    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(
        demo_view.summary(
            rows, {"calls": {"inventory_classification_results": {"200": 8}}}, Snapshot()
        )
    )
    out = console.file
    assert isinstance(out, io.StringIO)
    assert "…" not in out.getvalue()
    assert ["tenant-001", "100", "897", "100", "0", "95/95", "5/5"] in [
        line.split() for line in out.getvalue().splitlines()
    ]


def test_without_emulator_stats_the_api_table_falls_back_to_the_services_metrics() -> None:
    """Against the real IO API the service's own request counter is shown."""
    text = rendered(demo_view.api_table({}, busy_metrics()))
    assert "status" in text
    assert "2" in text
