"""The state changelog against a real broker: what is written is what a new owner restores."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest

from service.adapters.kafka_out import KafkaPublisher
from service.adapters.state_changelog import (
    ClosedOffsets,
    Outboxed,
    StateChangelog,
    closed_key,
    dataset_key,
    outbox_key,
    run_key,
    tenant_key,
)
from service.codec import OutboundRecord
from service.domain.model import Period, StockItem
from service.domain.registry import DatasetRecord, TenantRecord
from service.domain.runs import Job, JobKind, Plan, Run, RunKind, RunState
from tests.conftest import TopicFactory

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(60)]

STOCK = StockItem(12.5, 0.95, Period(2, "W"), "supplier-1", Period(10, "D"))


def full_run() -> Run:
    """A run with every field away from its default."""
    plans = (
        Plan("a", "D", 30, True, STOCK, (3, 7), 42, True),
        Plan("b", "W", 8, False, None, (5,), 1, False),
    )
    return Run(
        "run-1",
        "tenant-1",
        2,
        RunKind.PREDICTION,
        RunState.TRAINING,
        plans,
        frozenset({"b", "a"}),
        1.5,
        2.5,
        Job(JobKind.TRAINING, "job-9", 2.0, 4.0, 3),
        frozenset({"a"}),
        2,
        "job-7",
    )


def failed_event() -> OutboundRecord:
    headers = (("ce_id", b"abc123"), ("ce_type", b"io.failed"), ("bin", b"\xff\x00"))
    return OutboundRecord("failed", b"tenant-1", b'{"datasetId":"a"}', headers)


async def test_every_kind_of_record_is_restored_as_it_was_written(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    """Run, dataset, tenant, closed-offsets and outbox records come back equal; a tombstone
    removes what its key held; the latest record of a key wins."""
    topic = await new_topic("state", partitions=3, compacted=True)
    connection = {"bootstrap_servers": kafka_bootstrap}
    publisher = KafkaPublisher(connection)
    changelog = StateChangelog(publisher, connection, topic)
    run = full_run()
    dataset = DatasetRecord("tenant-1", "a", "D", 30, 9.0, True, STOCK)
    tenant = TenantRecord("tenant-1", 8.0, 2)
    event = failed_event()
    outboxed = Outboxed((3, 7), event)
    gone = DatasetRecord("tenant-1", "gone")
    await publisher.start()
    try:
        await changelog.write(
            [
                changelog.record(2, run_key(run), replace(run, state=RunState.VALIDATING)),
                changelog.record(2, run_key(run), run),
                changelog.record(2, dataset_key(gone), gone),
                changelog.record(2, dataset_key(gone), None),
                changelog.record(2, dataset_key(dataset), DatasetRecord("tenant-1", "a")),
                changelog.record(2, dataset_key(dataset), dataset),
                changelog.record(2, tenant_key(tenant), tenant),
                changelog.record(2, closed_key(2), ClosedOffsets(2, (1, 4))),
                changelog.record(2, outbox_key("tenant-1", event), outboxed),
                changelog.record(1, closed_key(1), ClosedOffsets(1, (9,))),
            ]
        )
        snapshot = await changelog.restore(2)
    finally:
        await publisher.stop()
    assert snapshot.runs == [run]
    assert snapshot.datasets == [dataset]
    assert snapshot.tenants == [tenant]
    assert snapshot.closed == {1, 4}
    assert snapshot.outbox == {b"tenant-1|outbox|abc123": outboxed}
    assert snapshot.records == 9


def test_records_are_the_json_dataclasses_asdict_would_give() -> None:
    """The hand-written encoder writes what the first, asdict-based one wrote, so a changelog
    written by an older release restores the same."""
    changelog = StateChangelog(None, {}, "state")  # type: ignore[arg-type]  # record() only
    run = full_run()
    body = asdict(run)
    body["active"] = sorted(run.active)
    body["trained"] = sorted(run.trained)
    dataset = DatasetRecord("t", "a", "W", 12, 1.0, True, STOCK)
    tenant = TenantRecord("t", None, 0)
    expected = [
        {"type": "run", "run": body},
        {"type": "dataset", "dataset": asdict(dataset)},
        {"type": "tenant", "tenant": asdict(tenant)},
    ]
    written = [changelog.record(0, b"k", value).value for value in (run, dataset, tenant)]
    assert [json.loads(v or b"") for v in written] == json.loads(json.dumps(expected))
