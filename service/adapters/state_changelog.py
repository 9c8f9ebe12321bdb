"""The compacted state changelog: runs, dataset registry and tenant records, per partition.

State for input partition p is written to changelog partition p (co-partitioning), keyed
``tenant|kind|id`` so compaction keeps the latest record of each; a ``None`` value is a
tombstone. On assignment the partition is read from the beginning to its end offset and the
latest record per key rebuilds the partition's state.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.codec import OutboundRecord
from service.domain.model import Period, StockItem
from service.domain.registry import DatasetRecord, TenantRecord
from service.domain.runs import Job, JobKind, Plan, Run, RunKind, RunState
from service.ports import Publisher

# Restore decodes on the event loop for at most this long before it lets other tasks run.
RESTORE_SLICE_SECONDS = 0.005


@dataclass(frozen=True, slots=True)
class ClosedOffsets:
    """Input offsets of a partition whose outcome is final without a run record (DLQ'd, or
    failed before hand-off), kept until the committed offset passes them."""

    partition: int
    offsets: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Outboxed:
    """An output event written to the changelog before it is published (at-least-once mode),
    so that an owner restoring the partition publishes it again if the first owner died in
    between; kept until the committed offset passes the inputs it covers."""

    offsets: tuple[int, ...]
    event: OutboundRecord


@dataclass(slots=True)
class PartitionSnapshot:
    runs: list[Run] = field(default_factory=list)
    datasets: list[DatasetRecord] = field(default_factory=list)
    tenants: list[TenantRecord] = field(default_factory=list)
    closed: set[int] = field(default_factory=set)
    outbox: dict[bytes, Outboxed] = field(default_factory=dict)
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


def outbox_key(tenant: str, event: OutboundRecord) -> bytes:
    """``tenant|outbox|ce_id``: one record per pending event."""
    ce_id = dict(event.headers).get("ce_id", b"").decode()
    return f"{tenant}|outbox|{ce_id}".encode()


class StateChangelog:
    """Writes go through the shared publisher (so they can join a transaction); restore reads."""

    def __init__(self, publisher: Publisher, connection: dict[str, Any], topic: str) -> None:
        self._publisher = publisher
        self._connection = connection
        self.topic = topic

    def record(self, partition: int, key: bytes, value: object | None) -> OutboundRecord:
        return OutboundRecord(
            self.topic, key, None if value is None else encode(value), (), partition
        )

    async def write(self, records: list[OutboundRecord]) -> None:
        await self._publisher.send(records)

    async def restore(self, partition: int) -> PartitionSnapshot:
        """Read changelog partition ``partition`` to its end; the latest record per key wins."""
        began = time.monotonic()
        latest, count = await self._read_all(partition)
        snapshot = PartitionSnapshot(records=count)
        # A long decode must not starve the event loop: heartbeats, the probes (the Deployment's
        # kubelet probes time out after 3 s) and the other partitions' restores each get a turn
        # every slice.
        slice_ends = time.monotonic() + RESTORE_SLICE_SECONDS
        for n, (key, value) in enumerate(latest.items(), 1):
            if value is not None:
                _add(snapshot, key, json.loads(value))
            if n % 64 == 0 and time.monotonic() >= slice_ends:
                await asyncio.sleep(0)
                slice_ends = time.monotonic() + RESTORE_SLICE_SECONDS
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
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=2_000)
                for record in batch.get(tp, []):
                    latest[record.key] = record.value
                    count += 1
        finally:
            await consumer.stop()
        return latest, count


# ---------------------------------------------------------------- JSON mapping
def encode(value: object) -> bytes:
    """The changelog value of a run, dataset, tenant, closed-offsets or outbox record."""
    return json.dumps(_encode(value), separators=(",", ":")).encode()


# Written by hand rather than with dataclasses.asdict (6-9x slower: it deep-copies every plan);
# the field names are those of the dataclasses, so records written by either restore alike.
def _encode(value: object) -> dict[str, Any]:
    if isinstance(value, Run):
        return {"type": "run", "run": _run_json(value)}
    if isinstance(value, DatasetRecord):
        return {"type": "dataset", "dataset": _dataset_json(value)}
    if isinstance(value, TenantRecord):
        return {
            "type": "tenant",
            "tenant": {
                "tenant": value.tenant,
                "classified_at": value.classified_at,
                "classified_datasets": value.classified_datasets,
            },
        }
    if isinstance(value, ClosedOffsets):
        return {"type": "closed", "offsets": list(value.offsets)}
    if isinstance(value, Outboxed):
        return {"type": "outbox", "offsets": list(value.offsets), "event": _event_json(value.event)}
    raise TypeError(f"cannot persist {type(value).__name__}")


def _period_json(period: Period) -> dict[str, Any]:
    return {"value": period.value, "granularity": period.granularity}


def _stock_json(stock: StockItem | None) -> dict[str, Any] | None:
    if stock is None:
        return None
    return {
        "inventory": stock.inventory,
        "service_level": stock.service_level,
        "time_to_next_order": _period_json(stock.time_to_next_order),
        "supplier_id": stock.supplier_id,
        "lead_time": _period_json(stock.lead_time),
    }


def _dataset_json(record: DatasetRecord) -> dict[str, Any]:
    return {
        "tenant": record.tenant,
        "dataset": record.dataset,
        "frequency": record.frequency,
        "horizon": record.horizon,
        "trained_at": record.trained_at,
        "has_price": record.has_price,
        "stock_item": _stock_json(record.stock_item),
    }


def _plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "dataset": plan.dataset,
        "frequency": plan.frequency,
        "horizon": plan.horizon,
        "train": plan.train,
        "stock_item": _stock_json(plan.stock_item),
        "offsets": list(plan.offsets),
        "transactions": plan.transactions,
        "has_price": plan.has_price,
    }


def _run_json(run: Run) -> dict[str, Any]:
    job = run.job
    return {
        "run_id": run.run_id,
        "tenant": run.tenant,
        "partition": run.partition,
        "kind": run.kind.value,
        "state": run.state.value,
        "plans": [_plan_json(p) for p in run.plans],
        "active": sorted(run.active),
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "job": None
        if job is None
        else {
            "kind": job.kind.value,
            "job_id": job.job_id,
            "started_at": job.started_at,
            "next_poll_at": job.next_poll_at,
            "polls": job.polls,
        },
        "trained": sorted(run.trained),
        "uploads": run.uploads,
        "result_job_id": run.result_job_id,
    }


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def _event_json(event: OutboundRecord) -> dict[str, Any]:
    return {
        "topic": event.topic,
        "key": _b64(event.key),
        "value": _b64(event.value),
        "headers": [[name, _b64(value)] for name, value in event.headers],
        "partition": event.partition,
    }


def _event(raw: dict[str, Any]) -> OutboundRecord:
    headers = tuple((name, _unb64(value) or b"") for name, value in raw["headers"])
    return OutboundRecord(
        raw["topic"], _unb64(raw["key"]), _unb64(raw["value"]), headers, raw["partition"]
    )


def _add(snapshot: PartitionSnapshot, key: bytes, body: dict[str, Any]) -> None:
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
    elif kind == "outbox":
        outboxed = Outboxed(tuple(body["offsets"]), _event(body["event"]))
        snapshot.outbox[key] = outboxed


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
