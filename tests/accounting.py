"""Accounting for every input record from the outputs alone, and the checks that go with it.

Each input record of ``erp.sales-updated.v1`` must end in exactly one final outcome: a
``prediction-ready`` or ``dataset-failed`` event whose ``source`` names its partition and offset,
or a DLQ record whose ``dlq.source.*`` headers do. This module turns what was produced and what
was read back into an :class:`Accounting` (lost, duplicates and whether they are recognisable,
end-to-end times), checks tenant isolation, and scans texts for secrets. It is pure: no Kafka,
no service; :mod:`tests.chaos` and the e2e tests feed it.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Position = tuple[int, int]  # (input partition, input offset)


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One produced input record and what it carries (as far as the producer knows)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    valid: bool
    tenant: str
    dataset: str
    transaction_ids: frozenset[str] = frozenset()
    label: str = "valid"

    @property
    def position(self) -> Position:
        return (self.partition, self.offset)


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """One record read back from an output topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp_ms: int

    def header(self, name: str) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)

    def body(self) -> dict[str, Any] | None:
        """The JSON object in the value, or None when it is not one."""
        if self.value is None:
            return None
        try:
            parsed = json.loads(self.value)
        except (ValueError, RecursionError):  # DLQ copies of hostile input may be either
            return None
        return parsed if isinstance(parsed, dict) else None


@dataclass(frozen=True, slots=True)
class OutputTopics:
    """Names of the topics an outcome can be on."""

    prediction: str
    failed: str
    dlq: str
    classification: str
    input: str

    def kind(self, topic: str) -> str:
        names = {
            self.prediction: "prediction-ready",
            self.failed: "dataset-failed",
            self.dlq: "dlq",
            self.classification: "classification-ready",
        }
        return names.get(topic, "other")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One output record naming one input; ``identity`` is what makes two of them "the same"."""

    kind: str
    identity: str
    record: OutputRecord

    @property
    def state(self) -> str:
        """The final state: ``prediction-ready``, ``dlq`` or ``dataset-failed:<stage>``."""
        if self.kind != "dataset-failed":
            return self.kind
        return f"dataset-failed:{(self.record.body() or {}).get('stage')}"


def outcomes(
    outputs: Iterable[OutputRecord], topics: OutputTopics
) -> dict[Position, list[Outcome]]:
    """Every input position an output names, with the outputs naming it."""
    named: dict[Position, list[Outcome]] = defaultdict(list)
    for record in outputs:
        kind = topics.kind(record.topic)
        if kind in {"prediction-ready", "dataset-failed"}:
            body = record.body() or {}
            source = body.get("source") or {}
            ce_id = (record.header("ce_id") or b"").decode("utf-8", "replace")
            for offset in source.get("offsets", []):
                named[(int(source["partition"]), int(offset))].append(
                    Outcome(kind, f"ce_id:{ce_id}", record)
                )
        elif kind == "dlq":
            partition, offset = (
                record.header("dlq.source.partition"),
                record.header("dlq.source.offset"),
            )
            topic = (record.header("dlq.source.topic") or b"").decode("utf-8", "replace")
            if partition is not None and offset is not None:
                position = (int(partition), int(offset))
                identity = f"dlq:{topic}/{position[0]}/{position[1]}"
                named[position].append(Outcome(kind, identity, record))
    return named


@dataclass
class Accounting:
    """What became of every input record."""

    inputs: int
    valid_inputs: int
    accounted: int
    lost: list[Position]
    unexpected: list[Position]  # outputs naming records that were never produced
    duplicated_inputs: int  # inputs named by more than one outcome record
    duplicate_records: int  # outcome records beyond the first per input
    unrecognisable: list[Position]  # duplicates whose records are not "the same event"
    by_kind: Counter[str]
    by_state: Counter[str]  # final state of each accounted input (dataset-failed by stage)
    records_by_topic: Counter[str]
    duplicate_ce_ids: int  # output records repeating a ce_id already seen (all topics)
    e2e_seconds: list[float] = field(default_factory=list)

    @property
    def duplicate_rate(self) -> float:
        """Share of inputs that were named by more than one outcome record."""
        return self.duplicated_inputs / self.inputs if self.inputs else 0.0

    def e2e(self, quantile: float) -> float:
        """End-to-end seconds (produce → first outcome) at ``quantile`` (0..1)."""
        if not self.e2e_seconds:
            return 0.0
        ordered = sorted(self.e2e_seconds)
        return ordered[min(len(ordered) - 1, round(quantile * (len(ordered) - 1)))]


def account(
    inputs: Sequence[InputRecord], outputs: Sequence[OutputRecord], topics: OutputTopics
) -> Accounting:
    """Match every input with the outcomes naming it."""
    named = outcomes(outputs, topics)
    produced = {i.position: i for i in inputs}
    lost = sorted(p for p in produced if not named.get(p))
    unexpected = sorted(p for p in named if p not in produced)
    duplicated = {p: o for p, o in named.items() if len(o) > 1 and p in produced}
    unrecognisable = sorted(p for p, o in duplicated.items() if len({x.identity for x in o}) > 1)
    by_kind: Counter[str] = Counter()
    by_state: Counter[str] = Counter()
    e2e: list[float] = []
    for position, record in produced.items():
        found = named.get(position)
        if not found:
            continue
        by_kind[found[0].kind] += 1
        by_state[found[0].state] += 1
        first = min(o.record.timestamp_ms for o in found)
        e2e.append(max(0.0, (first - record.timestamp_ms) / 1000))
    ce_ids = Counter(
        r.header("ce_id") for r in outputs if r.header("ce_id") is not None and r.value is not None
    )
    return Accounting(
        inputs=len(produced),
        valid_inputs=sum(i.valid for i in inputs),
        accounted=len(produced) - len(lost),
        lost=lost,
        unexpected=unexpected,
        duplicated_inputs=len(duplicated),
        duplicate_records=sum(len(o) - 1 for o in duplicated.values()),
        unrecognisable=unrecognisable,
        by_kind=by_kind,
        by_state=by_state,
        records_by_topic=Counter(topics.kind(r.topic) for r in outputs),
        duplicate_ce_ids=sum(n - 1 for n in ce_ids.values()),
        e2e_seconds=e2e,
    )


def covered(outputs: Iterable[OutputRecord], topics: OutputTopics) -> set[Position]:
    """Input positions some outcome names (cheap: for "are we done yet" checks)."""
    return set(outcomes(outputs, topics))


def misrouted(
    inputs: Sequence[InputRecord],
    outputs: Sequence[OutputRecord],
    topics: OutputTopics,
    allowed: Callable[[InputRecord], frozenset[str]],
) -> list[str]:
    """Inputs whose final state is not one ``allowed(input)`` names (states as
    :attr:`Outcome.state`)."""
    named = outcomes(outputs, topics)
    problems = []
    for record in inputs:
        ok = allowed(record)
        for outcome in named.get(record.position, []):
            state = outcome.state
            if state not in ok:
                problems.append(
                    f"input {record.position} ({record.label}, {record.tenant}/{record.dataset}) "
                    f"ended {state}; expected one of {sorted(ok)}"
                )
    return problems


def ce_id_collisions(outputs: Sequence[OutputRecord], topics: OutputTopics) -> list[str]:
    """One ``ce_id`` on two different events (README: a replayed publish carries the same id, so
    consumers may drop repeats by id; two events that cover different inputs, datasets or stages
    under one id make such a consumer drop a real event)."""
    seen: dict[tuple[str, bytes], tuple[object, ...]] = {}
    problems = []
    for r in outputs:
        ce_id = r.header("ce_id")
        kind = topics.kind(r.topic)
        if ce_id is None or kind not in {
            "prediction-ready",
            "dataset-failed",
            "classification-ready",
        }:
            continue
        body = r.body() or {}
        source = body.get("source") or {}
        identity = (
            body.get("tenantId"),
            body.get("datasetId"),
            body.get("stage"),
            body.get("classificationJobId"),
            source.get("partition"),
            tuple(source.get("offsets") or ()),
        )
        first = seen.setdefault((r.topic, ce_id), identity)
        if first != identity:
            problems.append(
                f"{kind} ce_id {ce_id.decode('ascii', 'replace')} names {first} and {identity}"
            )
    return problems


def order_violations(outputs: Sequence[OutputRecord], topics: OutputTopics) -> list[str]:
    """Prediction-ready events of one dataset that came out of input order (README: a tenant's
    runs, and each dataset's prediction-ready events, come out in input order). A repeat of a
    ce_id already seen (an at-least-once replay) is not a new event and is skipped."""
    seen_ids: set[bytes | None] = set()
    last: dict[tuple[str, str], int] = {}
    problems = []
    ordered = sorted(
        (r for r in outputs if r.topic == topics.prediction), key=lambda r: (r.partition, r.offset)
    )
    for r in ordered:
        ce_id = r.header("ce_id")
        if ce_id in seen_ids:
            continue
        seen_ids.add(ce_id)
        body = r.body() or {}
        offsets = (body.get("source") or {}).get("offsets") or []
        if not offsets:
            continue
        dataset = (str(body.get("tenantId")), str(body.get("datasetId")))
        if dataset in last and min(offsets) <= last[dataset]:
            problems.append(
                f"{dataset[0]}/{dataset[1]}: prediction at {r.partition}@{r.offset} covers "
                f"input offsets from {min(offsets)}, not after {last[dataset]}"
            )
        last[dataset] = max(offsets)
    return problems


# ---------------------------------------------------------------- tenant isolation
def isolation_violations(
    inputs: Sequence[InputRecord], outputs: Sequence[OutputRecord], topics: OutputTopics
) -> list[str]:
    """Every way an output mixes tenants or misstates what it covers (empty = isolated).

    Outputs: key == tenantId, subject ``tenant/dataset``, and each covered input is of the same
    tenant and dataset, with ``source.transactions`` = the distinct transactions of those inputs.
    DLQ records: the original key and bytes, unchanged.
    """
    produced = {i.position: i for i in inputs}
    problems: list[str] = []
    for r in outputs:
        kind = topics.kind(r.topic)
        where = f"{kind} {r.partition}@{r.offset}"
        if kind == "dlq":
            problems += _dlq_problems(r, produced, where, topics.input)
            continue
        if kind not in {"prediction-ready", "dataset-failed", "classification-ready"}:
            continue
        body = r.body()
        if body is None:
            problems.append(f"{where}: value is not a JSON object")
            continue
        tenant, dataset = str(body.get("tenantId")), str(body.get("datasetId"))
        if r.key != tenant.encode():
            problems.append(f"{where}: key {r.key!r} differs from tenantId {tenant!r}")
        subject = (r.header("ce_subject") or b"").decode("utf-8", "replace")
        if subject != f"{tenant}/{dataset}":
            problems.append(f"{where}: ce_subject {subject!r} is not {tenant}/{dataset}")
        source = body.get("source")
        if kind == "classification-ready" or not isinstance(source, dict):
            continue
        txns: set[str] = set()
        for offset in source.get("offsets", []):
            got = produced.get((int(source["partition"]), int(offset)))
            if got is None:
                problems.append(f"{where}: covers {source['partition']}@{offset}, never produced")
                continue
            if (got.tenant, got.dataset) != (tenant, dataset):
                problems.append(
                    f"{where}: {tenant}/{dataset} covers input {got.position} of "
                    f"{got.tenant}/{got.dataset}"
                )
            txns |= got.transaction_ids
        if source.get("offsets") and source.get("transactions") != len(txns):
            problems.append(
                f"{where}: source.transactions {source.get('transactions')} but the covered "
                f"inputs carry {len(txns)} distinct transactions"
            )
    return problems


def _dlq_problems(
    r: OutputRecord, produced: Mapping[Position, InputRecord], where: str, input_topic: str
) -> list[str]:
    try:
        position = (
            int(r.header("dlq.source.partition") or b""),
            int(r.header("dlq.source.offset") or b""),
        )
    except ValueError:
        return [f"{where}: dlq.source.partition/offset headers missing or not numbers"]
    problems = []
    if (r.header("dlq.source.topic") or b"").decode("utf-8", "replace") != input_topic:
        problems.append(f"{where}: dlq.source.topic is not {input_topic}")
    for name in ("dlq.error.reason", "dlq.error.message"):
        if not r.header(name):
            problems.append(f"{where}: {name} header missing or empty")
    got = produced.get(position)
    if got is None:
        problems.append(f"{where}: names {position}, never produced")
    elif (r.key, r.value) != (got.key, got.value):
        problems.append(f"{where}: key or value differ from the original record {position}")
    return problems


# ---------------------------------------------------------------- secrets
@dataclass(frozen=True, slots=True)
class SecretProbe:
    """What counts as a leak: exact secret strings and shapes (regular expressions)."""

    exact: Mapping[str, str]  # name → value (values are never printed)
    shapes: Mapping[str, re.Pattern[str]]

    def findings(self, where: str, text: str) -> list[str]:
        """Leaks in ``text``, described without repeating the secret."""
        found = [f"{where}: contains the {name}" for name, v in self.exact.items() if v in text]
        for name, pattern in self.shapes.items():
            hits = pattern.findall(text)
            if hits:
                found.append(f"{where}: {len(hits)} match(es) of the {name} shape")
        return found


def token_shape(token: str) -> re.Pattern[str]:
    """A pattern for tokens shaped like ``token``: the same prefix and dot-separated parts."""
    parts = token.split(".")
    if len(parts) < 2:
        return re.compile(re.escape(token))
    body = r"\.".join([re.escape(parts[0])] + [r"[A-Za-z0-9_\-=+/]{8,}"] * (len(parts) - 1))
    return re.compile(rf"(?<![A-Za-z0-9_\-]){body}")


# A presigned signature that is not masked ("signature=***" is what redaction leaves).
PRESIGNED_SIGNATURE = re.compile(r"signature=(?!\*)[A-Za-z0-9%_\-=+/]{8,}")


def texts_of(records: Iterable[OutputRecord]) -> Iterable[tuple[str, str]]:
    """(where, text) of each record's key, value and headers, for a secret scan."""
    for r in records:
        parts = [r.key or b"", r.value or b""] + [
            k.encode() + b"=" + (v or b"") for k, v in r.headers
        ]
        yield f"{r.topic} {r.partition}@{r.offset}", b"\n".join(parts).decode("utf-8", "replace")


# ---------------------------------------------------------------- formatting
def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "n/a"


def e2e_summary(acc: Accounting) -> str:
    if not acc.e2e_seconds:
        return "n/a"
    mean = statistics.fmean(acc.e2e_seconds)
    return (
        f"p50 {acc.e2e(0.5):.1f}s  p95 {acc.e2e(0.95):.1f}s  max {max(acc.e2e_seconds):.1f}s"
        f"  mean {mean:.1f}s"
    )
