"""What the demo shows: a live panel on a terminal, log lines otherwise, and the final tables.

The view is a function of one :class:`Progress` value, so it renders the same from a unit test
(into a string console) as on screen. Numbers come from the service's ``/metrics`` (a
:class:`~service.devkit.demo_metrics.Snapshot`) and from the demo's own reading of the output
topics (:class:`~service.devkit.demo_outcomes.Outcomes`).
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from service.devkit.demo_metrics import Snapshot
from service.devkit.demo_outcomes import Outcomes
from service.devkit.demo_summary import (
    ABC,
    DEMAND_TYPES,
    TenantRow,
    api_calls,
    diagnosis,
    total_row,
)

RUN_STATES = ("UPLOADING", "VALIDATING", "TRAINING", "PREDICTING", "CLASSIFYING", "FETCHING")


@dataclass
class Progress:
    """Everything the live view shows, refreshed by the demo loop."""

    phase: str
    elapsed: float
    to_send: int
    sent: int
    datasets: int
    priced: int
    outcomes: Outcomes
    metrics: Snapshot = field(default_factory=Snapshot)


def _fmt(counts: Mapping[str, int], order: Sequence[str] = ()) -> str:
    keys = [k for k in order if counts.get(k)] + sorted(k for k in counts if k not in order)
    return "  ".join(f"{k.lower()} {counts[k]}" for k in keys if counts[k]) or "-"


def _rows(p: Progress) -> list[tuple[str, str]]:
    m, o = p.metrics, p.outcomes
    received = o.received
    return [
        ("events in", f"sent {p.sent}/{p.to_send}   consumed {m.consumed}   lag {m.lag}"),
        ("invalid / DLQ", f"rejected {m.invalid}   in DLQ topic {received['dlq']}"),
        ("batches", f"{m.batches} flushed"),
        ("runs", f"in flight {m.runs_in_flight}: {_fmt(m.runs, RUN_STATES)}"),
        ("runs ended", _fmt(m.runs_ended)),
        ("jobs started", f"{_fmt(m.jobs_started)}   (failed/timed out {m.jobs_failed})"),
        (
            "events out",
            f"prediction-ready {received['prediction']}   classification-ready"
            f" {received['classification']}   dataset-failed {received['failed']}",
        ),
        (
            "datasets",
            f"final outcome {o.datasets_done()}/{p.datasets}"
            f"   classified {len(o.classified)}/{p.priced}",
        ),
        (
            "IO API",
            f"{m.api_requests} requests   errors {m.api_errors}   retries {m.retries}",
        ),
    ]


def live_panel(p: Progress) -> Panel:
    """The rich renderable of the live view."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    for name, value in _rows(p):
        grid.add_row(name, value)
    title = f"io-bridge demo - {p.phase} - {p.elapsed:.0f}s"
    return Panel(grid, title=title, title_align="left", expand=False)


def log_line(p: Progress) -> str:
    """The same numbers on one line, for logs and pipes."""
    m, o = p.metrics, p.outcomes
    return (
        f"[{p.elapsed:5.0f}s] {p.phase}: sent {p.sent}/{p.to_send} consumed {m.consumed}"
        f" dlq {o.received['dlq']} batches {m.batches} runs {m.runs_in_flight} in flight"
        f" jobs {sum(m.jobs_started.values())} out prediction {o.received['prediction']}"
        f" classification {o.received['classification']} failed {o.received['failed']}"
        f" | datasets done {o.datasets_done()}/{p.datasets} classified"
        f" {len(o.classified)}/{p.priced} | api {m.api_requests} errors {m.api_errors}"
    )


def _numbers_table(title: str, columns: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False)
    table.add_column("tenant", no_wrap=True, min_width=10)
    for name in columns:
        table.add_column(name, justify="right")
    return table


def tenant_table(rows: Sequence[TenantRow]) -> Table:
    """Per tenant: what was sent and what came back, with a total row."""
    table = _numbers_table(
        "Per tenant", ("datasets", "events", "predicted", "failed", "classified", "DLQ/invalid")
    )
    for row in [*rows, total_row(rows)]:
        numbers = (row.datasets, row.events, row.predicted, row.failed)
        table.add_row(
            row.tenant,
            *map(str, numbers),
            f"{row.classified}/{row.priced}",
            f"{row.dlq}/{row.invalid}",
            end_section=row is rows[-1],
        )
    return table


def classes_table(rows: Sequence[TenantRow]) -> Table:
    """Per tenant: ABC classes and demand types received, with a total row."""
    table = _numbers_table("Classification per tenant", (*ABC, *DEMAND_TYPES))
    for row in [*rows, total_row(rows)]:
        counts = [row.abc.get(k, 0) for k in ABC] + [row.demand.get(k, 0) for k in DEMAND_TYPES]
        table.add_row(row.tenant, *map(str, counts), end_section=row is rows[-1])
    return table


def api_table(stats: Mapping[str, Any], metrics: Snapshot) -> Table:
    """IO API calls per operation as the emulator counted them (or the service, without it)."""
    table = Table(title="IO API calls", title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False)
    table.add_column("operation")
    table.add_column("calls", justify="right")
    calls = api_calls(stats) or {
        op: int(n) for op, n in metrics.by("io_api_requests_total", "operation").items()
    }
    for operation, count in calls.items():
        table.add_row(operation, str(count))
    table.add_row("total", str(sum(calls.values())), end_section=True)
    return table


def summary(rows: Sequence[TenantRow], stats: Mapping[str, Any], metrics: Snapshot) -> Group:
    return Group(tenant_table(rows), classes_table(rows), api_table(stats, metrics))


def console() -> Console:
    """A console for the demo: the terminal's width, or wide enough for the tables in a pipe."""
    plain = Console()
    return plain if plain.is_terminal else Console(width=150)


def ended(code: int | None) -> str:
    """How a child ended: uvicorn re-raises SIGTERM after a clean shutdown, so -15 is clean."""
    if code in (0, -signal.SIGTERM):
        return "clean"
    return "never started" if code is None else f"exit {code}"


def timeout_report(
    timeout: float, outcomes: Outcomes, m: Snapshot, stats: Mapping[str, Any], logs: Path
) -> list[str]:
    """What the demo prints when it gives up: what is missing and what the service was doing."""
    lines = [
        f"[bold red]demo timed out after {timeout:.0f}s[/] without every dataset reaching an"
        " outcome. Diagnosis:"
    ]
    lines += [f"  {line}" for line in diagnosis(outcomes)]
    lines.append(
        f"  service: consumed {m.consumed}, runs in flight {m.runs_in_flight} {m.runs},"
        f" jobs {m.jobs_started} (failed {m.jobs_failed}), lag {m.lag},"
        f" IO API requests {m.api_requests} (errors {m.api_errors}, retries {m.retries})"
    )
    if stats:
        lines.append(f"  emulator: {api_calls(stats)}")
    lines.append(f"  logs: {logs}/service.log, {logs}/emulator.log")
    return lines
