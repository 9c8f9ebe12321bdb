"""The demo's end-of-run numbers: one row per tenant, totals, API calls, and a diagnosis.

Pure functions over :class:`~service.devkit.demo_outcomes.Outcomes`, the sample's
:class:`~service.devkit.sample_model.TenantSummary` and the emulator's ``/_emulator/stats`` body,
so the table can be checked in unit tests and written to ``summary.json`` as is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from service.devkit.demo_outcomes import Outcomes
from service.devkit.sample_model import TenantSummary

ABC = ("A", "B", "C")
DEMAND_TYPES = ("smooth", "erratic", "intermittent", "lumpy")
COUNTS = ("datasets", "priced", "events", "invalid", "dlq", "predicted", "failed", "classified")


@dataclass(frozen=True, slots=True)
class TenantRow:
    """What happened to one tenant's data."""

    tenant: str
    datasets: int
    priced: int
    events: int
    invalid: int
    dlq: int
    predicted: int
    failed: int
    classified: int
    abc: dict[str, int] = field(default_factory=dict)
    demand: dict[str, int] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Inconsistencies between what was sent and what came back (empty when all is well)."""
        found = []
        if self.predicted + self.failed != self.datasets:
            found.append(
                f"{self.tenant}: {self.predicted} predicted + {self.failed} failed"
                f" != {self.datasets} datasets"
            )
        if self.classified > self.priced:
            found.append(f"{self.tenant}: {self.classified} classified > {self.priced} priced")
        if self.dlq != self.invalid:
            found.append(f"{self.tenant}: {self.dlq} in the DLQ, {self.invalid} invalid sent")
        return found


def tenant_rows(samples: Mapping[str, TenantSummary], outcomes: Outcomes) -> list[TenantRow]:
    """One row per tenant of the sample, in tenant order."""
    return [_row(tenant, sample, outcomes) for tenant, sample in samples.items()]


def _row(tenant: str, sample: TenantSummary, outcomes: Outcomes) -> TenantRow:
    finals = [f for (t, _), f in outcomes.finals.items() if t == tenant]
    classes = [c for (t, _), c in outcomes.classified.items() if t == tenant]
    return TenantRow(
        tenant=tenant,
        datasets=sample.datasets,
        priced=sample.datasets_with_prices,
        events=sample.valid_events,
        invalid=sample.invalid_events,
        dlq=outcomes.dlq.get(tenant, 0),
        predicted=sum(f.status == "predicted" for f in finals),
        failed=sum(f.status == "failed" for f in finals),
        classified=len(classes),
        abc=_counts(str(c.get("abcCategory")) for c in classes),
        demand=_counts(str(c.get("demandType")) for c in classes),
    )


def _counts(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def total_row(rows: Sequence[TenantRow]) -> TenantRow:
    """The column sums, named ``total``."""
    abc: Counter[str] = Counter()
    demand: Counter[str] = Counter()
    for row in rows:
        abc.update(row.abc)
        demand.update(row.demand)
    numbers = {name: sum(getattr(r, name) for r in rows) for name in COUNTS}
    return TenantRow(tenant="total", abc=dict(sorted(abc.items())), demand=dict(demand), **numbers)


def api_calls(stats: Mapping[str, Any]) -> dict[str, int]:
    """Calls per operation from ``/_emulator/stats`` (``calls: {operation: {status: n}}``)."""
    calls = stats.get("calls") or {}
    return {op: sum(int(n) for n in codes.values()) for op, codes in sorted(calls.items())}


def api_errors(stats: Mapping[str, Any]) -> int:
    """Answers with a 4xx or 5xx status (429s and injected faults included)."""
    calls = stats.get("calls") or {}
    return sum(
        int(n) for codes in calls.values() for status, n in codes.items() if status[:1] in "45"
    )


def as_json(rows: Sequence[TenantRow], stats: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    """The summary as written to ``summary.json``."""
    return {
        "tenants": [asdict(r) for r in rows],
        "total": asdict(total_row(rows)),
        "api_calls": api_calls(stats),
        "api_errors": api_errors(stats),
        "emulator": dict(stats),
        "seconds": round(seconds, 1),
    }


def stale_classifications(stale: Sequence[object]) -> str:
    return (
        f"{len(stale)} priced datasets were last classified before their last prediction"
        " (no classification run followed it)"
    )


def diagnosis(outcomes: Outcomes, limit: int = 8) -> list[str]:
    """Why the run is not complete, most telling first."""
    lines = []
    missing = outcomes.missing()
    if missing:
        waiting = sorted({outcomes.expected.offsets[o] for o in missing})
        partitions = Counter(p for p, _ in missing)
        by_partition = dict(sorted(partitions.items()))
        lines.append(
            f"{len(missing)} valid input records of {len(waiting)} datasets have no"
            f" prediction-ready/dataset-failed yet (by partition: {by_partition})"
        )
        lines.append("  e.g. " + ", ".join(f"{t}/{d}" for t, d in waiting[:limit]))
    never = sorted(outcomes.never_classified())
    if never:
        lines.append(f"{len(never)} priced datasets predicted but never classified")
        lines.append("  e.g. " + ", ".join(f"{t}/{d}" for t, d in never[:limit]))
    stale = sorted(outcomes.unclassified() - set(never))
    if stale:
        lines.append(stale_classifications(stale))
        lines.append("  e.g. " + ", ".join(f"{t}/{d}" for t, d in stale[:limit]))
    if outcomes.dlq_missing():
        lines.append(f"{outcomes.dlq_missing()} invalid records not (yet) in the DLQ")
    return lines
