"""The compacted state changelog: runs, dataset registry and tenant records, per partition.

State for input partition p is written to changelog partition p (co-partitioning), keyed
``tenant|kind|id`` so compaction keeps the latest record of each; a ``None`` value is a
tombstone. On assignment the partition is read from the beginning to its end offset and the
latest record per key rebuilds the partition's state.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.codec import OutboundRecord
from service.domain.model import Period, StockItem
from service.domain.registry import DatasetRecord, TenantRecord
from service.domain.runs import Job, JobKind, Plan, Run, RunKind, RunState
from service.ports import Publisher


@dataclass(frozen=True, slots=True)
class ClosedOffsets:
    """Input offsets of a partition whose outcome is final without a run record (DLQ'd, or
    failed before hand-off), kept until the committed offset passes them."""

    partition: int
    offsets: tuple[int, ...]


@dataclass(slots=True)
class PartitionSnapshot:
    runs: list[Run] = field(default_factory=list)
    datasets: list[DatasetRecord] = field(default_factory=list)
    tenants: list[TenantRecord] = field(default_factory=list)
    closed: set[int] = field(default_factory=set)
    records: int = 0
    seconds: float = 0.0


def run_key(run: Run) -> bytes:
    return f"{run.tenant}|run|{run.run_id}".encode()


def dataset_key(record: DatasetRecord) -> bytes:
    return f"{record.tenant}|dataset|{record.dataset}".encode()


def tenant_key(record: TenantRecord) -> bytes:
    return f"{record.tenant}|tenant|{record.tenant}".encode()


def closed_key(partition: int) -> bytes:
    return f"|closed|{partition}".encode()


class StateChangelog:
    """Writes go through the shared publisher (so they can join a transaction); restore reads."""

    def __init__(self, publisher: Publisher, connection: dict[str, Any], topic: str) -> None:
        self._publisher = publisher
        self._connection = connection
        self.topic = topic

    def record(self, partition: int, key: bytes, value: object | None) -> OutboundRecord:
        body = None if value is None else json.dumps(_encode(value), separators=(",", ":")).encode()
        return OutboundRecord(self.topic, key, body, (), partition)

    async def write(self, records: list[OutboundRecord]) -> None:
        await self._publisher.send(records)

    async def restore(self, partition: int) -> PartitionSnapshot:
        """Read changelog partition ``partition`` to its end; the latest record per key wins."""
        began = time.monotonic()
        latest, count = await self._read_all(partition)
        snapshot = PartitionSnapshot(records=count)
        for value in latest.values():
            if value is not None:
                _add(snapshot, json.loads(value))
        snapshot.seconds = time.monotonic() - began
        return snapshot

    async def _read_all(self, partition: int) -> tuple[dict[bytes, bytes | None], int]:
        tp = TopicPartition(self.topic, partition)
        consumer = AIOKafkaConsumer(
            **self._connection, enable_auto_commit=False, isolation_level="read_committed"
        )
        await consumer.start()
        latest: dict[bytes, bytes | None] = {}
        count = 0
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=20_000)
                for record in batch.get(tp, []):
                    latest[record.key] = record.value
                    count += 1
        finally:
            await consumer.stop()
        return latest, count


# ---------------------------------------------------------------- JSON mapping
def _encode(value: object) -> dict[str, Any]:
    if isinstance(value, Run):
        body = asdict(value)
        body["active"] = sorted(value.active)
        body["trained"] = sorted(value.trained)
        return {"type": "run", "run": body}
    if isinstance(value, DatasetRecord):
        return {"type": "dataset", "dataset": asdict(value)}
    if isinstance(value, TenantRecord):
        return {"type": "tenant", "tenant": asdict(value)}
    if isinstance(value, ClosedOffsets):
        return {"type": "closed", "offsets": list(value.offsets)}
    raise TypeError(f"cannot persist {type(value).__name__}")


def _add(snapshot: PartitionSnapshot, body: dict[str, Any]) -> None:
    kind = body.get("type")
    if kind == "run":
        snapshot.runs.append(_run(body["run"]))
    elif kind == "dataset":
        raw = body["dataset"]
        snapshot.datasets.append(DatasetRecord(**{**raw, "stock_item": _stock(raw["stock_item"])}))
    elif kind == "tenant":
        snapshot.tenants.append(TenantRecord(**body["tenant"]))
    elif kind == "closed":
        snapshot.closed.update(body["offsets"])


def _stock(raw: dict[str, Any] | None) -> StockItem | None:
    if raw is None:
        return None
    return StockItem(
        inventory=raw["inventory"],
        service_level=raw["service_level"],
        time_to_next_order=Period(**raw["time_to_next_order"]),
        supplier_id=raw["supplier_id"],
        lead_time=Period(**raw["lead_time"]),
    )


def _run(raw: dict[str, Any]) -> Run:
    plans = tuple(
        Plan(**{**p, "stock_item": _stock(p["stock_item"]), "offsets": tuple(p["offsets"])})
        for p in raw["plans"]
    )
    job = raw["job"]
    return Run(
        run_id=raw["run_id"],
        tenant=raw["tenant"],
        partition=raw["partition"],
        kind=RunKind(raw["kind"]),
        state=RunState(raw["state"]),
        plans=plans,
        active=frozenset(raw["active"]),
        created_at=raw["created_at"],
        updated_at=raw["updated_at"],
        job=Job(**{**job, "kind": JobKind(job["kind"])}) if job else None,
        trained=frozenset(raw["trained"]),
        uploads=raw["uploads"],
        result_job_id=raw["result_job_id"],
    )
