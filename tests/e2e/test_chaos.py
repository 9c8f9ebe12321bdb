"""Chaos: SIGKILLs, a broker restart and every emulator fault; then every input accounted for.

The harness is :mod:`tests.chaos` (``make chaos`` runs its long version); these are its short
runs, plus one targeted kill that the random schedule only hits by luck.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from emulator import EmulatorConfig, create_app
from service.config import Settings
from service.devkit.kafka_local import free_port_pair
from service.devkit.sample_data import generate
from service.devkit.sample_events import events as sample_events
from tests.accounting import InputRecord, OutputRecord, OutputTopics, account, ce_id_collisions
from tests.chaos import ChaosPlan, produce_wave, run_chaos, table, verdict
from tests.emulator_fixtures import ServerThread
from tests.pipeline_harness import (
    Collected,
    ServiceProcess,
    collect,
    eventually,
    pipeline_settings,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# Seed 1's schedule: a kill 3.6 s after readiness, one 1.2 s after that restart (during start-up
# and the group join), the broker restart, a last kill. ~90 s on 2 shared cores.
SHORT = ChaosPlan(seed=1, tenants=3, products=6, days=360, days_per_event=90, waves=4, kills=3)


def exactly_once_landed() -> bool:
    """True once the README no longer calls IOB_EXACTLY_ONCE "reserved" (the lead's work)."""
    readme = (REPO / "README.md").read_text()
    row = next((line for line in readme.splitlines() if "`IOB_EXACTLY_ONCE`" in line), "")
    return bool(row) and "reserved" not in row


def progress(line: str) -> None:
    """Progress lines of a run (captured by pytest; shown on failure)."""
    sys.stderr.write(line + "\n")


def show(title: str, text: str, tmp_path: Path) -> None:
    """Keep the accounting table with the test's output (``-rP`` or ``-s`` shows it)."""
    (tmp_path / "chaos-table.txt").write_text(text)
    sys.stdout.write(f"\n{title}\n{text}\n")


@pytest.mark.timeout(360)
async def test_a_short_chaos_run_loses_nothing_and_keeps_tenants_and_secrets_apart(
    tmp_path: Path,
) -> None:
    """Three SIGKILLs, one broker restart, 5xx, 429 storms, expiring tokens, failing and hanging
    datasets: every input ends in one final state (duplicates recognisable), tenants stay
    apart, no secret shows in logs, metrics or topics, and the service stops cleanly."""
    report = await run_chaos(SHORT, tmp_path, progress)
    text = table(report)
    show("chaos (short, at-least-once)", text, tmp_path)
    assert verdict(report) == [], text
    assert report.kills >= 3
    assert report.broker_restarts == 1


@pytest.mark.timeout(360)
@pytest.mark.skipif(
    not exactly_once_landed(),
    reason="PENDING: README still lists IOB_EXACTLY_ONCE as reserved (transactions not active)",
)
async def test_an_exactly_once_chaos_run_shows_no_duplicate_to_a_read_committed_consumer(
    tmp_path: Path,
) -> None:
    """The same chaos with IOB_EXACTLY_ONCE=true: a read_committed consumer sees every input
    in exactly one outcome record and no ce_id twice."""
    plan = ChaosPlan(**{**SHORT.__dict__, "exactly_once": True})
    report = await run_chaos(plan, tmp_path, progress)
    text = table(report)
    show("chaos (short, exactly-once)", text, tmp_path)
    assert verdict(report) == [], text
    assert report.accounting is not None
    assert report.accounting.duplicated_inputs == 0
    assert report.accounting.duplicate_ce_ids == 0


COMPACTED = {"cleanup.policy": "compact"}
STALLED = {"max.message.bytes": "10"}
HEALTHY = {"max.message.bytes": "1048588"}


def outboxed(seen: Mapping[str, list[Collected]]) -> bool:
    """True once the state topic holds an outbox record."""
    return any(b"|outbox|" in (r.key or b"") for records in seen.values() for r in records)


def nothing(seen: Mapping[str, list[Collected]]) -> bool:
    return False


async def until_every_input_is_named(
    bootstrap: str, topics: OutputTopics, inputs: list[InputRecord], timeout_s: float
) -> dict[str, list[Collected]]:
    """Read the prediction-ready and dataset-failed topics until their events' ``source`` names
    every one of ``inputs`` (or raise TimeoutError)."""
    wanted = {i.position for i in inputs}

    def done(seen: Mapping[str, list[Collected]]) -> bool:
        named = {
            (r.value["source"]["partition"], o)
            for t in (topics.prediction, topics.failed)
            for r in seen[t]
            for o in r.value["source"]["offsets"]
        }
        return named >= wanted

    return await collect(bootstrap, [topics.prediction, topics.failed], done, timeout_s)


async def fail_one_dataset_and_die_before_its_event(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, tmp_path: Path, *, newer_record: bool
) -> tuple[list[InputRecord], list[OutputRecord], OutputTopics]:
    """A dataset fails validation before hand-off. The process writes the outbox and the record
    that closes the input, then dies before its dataset-failed event is acknowledged: the
    window is held open by a dataset-failed topic that rejects every record for now
    (max.message.bytes 10), as a SIGKILL would hit it only by luck. With ``newer_record``, a
    newer record of the failing dataset arrives before the restart. Returns inputs and what
    the outcome topics hold once every input is named."""
    data = generate(tenants=1, products=2, days=200, seed=5)
    broken = data.datasets[1].dataset_id
    events = list(sample_events(data, days_per_event=100 if newer_record else 200, invalid=0))
    first_broken = next(i for i, e in enumerate(events) if e.dataset_id == broken)
    later = [e for e in events[first_broken + 1 :] if e.dataset_id == broken]
    batch = [e for e in events if e not in later] if newer_record else events
    config = EmulatorConfig(job_seconds=3.0, fail_datasets=(broken,))
    with ServerThread(create_app(config)) as url:
        settings = pipeline_settings(kafka_bootstrap, url, http_port=free_port_pair())
        topics = chaos_topics(settings)
        await admin.create_topics(
            [
                NewTopic(settings.topic_sales_updated, 1, 1),
                NewTopic(settings.topic_state, 1, 1, topic_configs=COMPACTED),
                NewTopic(settings.topic_dataset_failed, 1, 1, topic_configs=STALLED),
            ]
        )
        service = ServiceProcess(settings, tmp_path / "service.log")
        service.start()
        try:
            inputs = await produce_wave(kafka_bootstrap, settings.topic_sales_updated, batch)
            state = await collect(kafka_bootstrap, [settings.topic_state], outboxed, 90)
            assert outboxed(state), "the failing dataset never failed"
            service.kill()  # if it is still alive
            assert not (await collect(kafka_bootstrap, [topics.failed], nothing, 1))[topics.failed]
            if newer_record:
                inputs += await produce_wave(kafka_bootstrap, settings.topic_sales_updated, later)
            await admin.alter_configs([topic_config(topics.failed, HEALTHY)])
            service.start()
            seen = await until_every_input_is_named(kafka_bootstrap, topics, inputs, 150)
        finally:
            status = service.terminate()
    assert status == 0
    outputs = [as_output(r) for t in (topics.prediction, topics.failed) for r in seen[t]]
    return inputs, outputs, topics


@pytest.mark.timeout(240)
async def test_a_dataset_failed_event_lost_in_a_crash_is_published_from_the_outbox(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, tmp_path: Path
) -> None:
    """The process dies after closing a failed input and before its dataset-failed event is
    out: the restarted owner skips the input and publishes the event from the outbox, so the
    input ends named by that one event (README: nothing lost)."""
    inputs, outputs, topics = await fail_one_dataset_and_die_before_its_event(
        kafka_bootstrap, admin, tmp_path, newer_record=False
    )
    acc = account(inputs, outputs, topics)
    assert acc.lost == []
    assert acc.unrecognisable == [], describe(acc.unrecognisable, inputs, outputs)
    assert acc.by_kind["dataset-failed"] >= 1


@pytest.mark.timeout(240)
async def test_an_input_failed_before_a_crash_is_not_named_by_a_second_event_after_it(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, tmp_path: Path
) -> None:
    """As above, and a newer record of the failing dataset arrives before the restart: the old
    input stays closed (its event comes from the outbox), the newer one fails in a batch of its
    own, so no input is named by two events with different ce_ids (README: duplicates are
    recognisable by their ce_id). Before the outbox, the event went out first and the re-formed
    batch failed old and new records together under a second id."""
    inputs, outputs, topics = await fail_one_dataset_and_die_before_its_event(
        kafka_bootstrap, admin, tmp_path, newer_record=True
    )
    acc = account(inputs, outputs, topics)
    assert acc.lost == []
    assert ce_id_collisions(outputs, topics) == []
    assert acc.unrecognisable == [], describe(acc.unrecognisable, inputs, outputs)


def topic_config(topic: str, configs: dict[str, str]) -> ConfigResource:
    return ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)


def chaos_topics(settings: Settings) -> OutputTopics:
    return OutputTopics(
        settings.topic_prediction_ready,
        settings.topic_dataset_failed,
        settings.topic_dlq,
        settings.topic_classification_ready,
        settings.topic_sales_updated,
    )


def as_output(r: Collected) -> OutputRecord:
    return OutputRecord(
        r.topic, 0, 0, r.key, json.dumps(r.value).encode(), tuple(r.headers.items()), 0
    )


def describe(
    positions: list[tuple[int, int]], inputs: list[InputRecord], outputs: list[OutputRecord]
) -> str:
    """Which outputs name the inputs at ``positions`` (for the failure message)."""
    lines = []
    for p, o in positions:
        name = next((f"{i.tenant}/{i.dataset}" for i in inputs if i.position == (p, o)), "?")
        for r in outputs:
            body = r.body() or {}
            source = body.get("source") or {}
            if source.get("partition") == p and o in source.get("offsets", []):
                lines.append(
                    f"input {p}@{o} ({name}) ← {r.topic} ce_id={r.header('ce_id')!r} "
                    f"stage={body.get('stage')} job={body.get('jobId')} run={body.get('runId')}"
                )
    return "\n".join(lines)


async def emulator_job_running(url: str, kind: str) -> bool:
    async with httpx.AsyncClient() as client:
        jobs = (await client.get(f"{url}/_emulator/jobs")).json()["jobs"]
    return any(j["kind"] == kind and j["status"] == "inProgress" for j in jobs)


@pytest.mark.timeout(240)
async def test_a_job_that_finished_while_the_service_was_down_is_fetched_not_timed_out(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """SIGKILL while training runs (a 2-s job, training timeout 6 s); the job succeeds while no
    process owns the partition; the restarted owner restores the run after more than 6 s and
    must ask the API before declaring a timeout: every dataset ends with a prediction. (Found by
    the chaos runs: 11 of 72 inputs ended "dataset-failed: timeout" with their jobs done.)"""
    data = generate(tenants=1, products=3, days=300, seed=3)
    events = list(sample_events(data, days_per_event=300, invalid=0))
    with ServerThread(create_app(EmulatorConfig(job_seconds=2.0))) as url:
        settings = pipeline_settings(
            kafka_bootstrap,
            url,
            http_port=free_port_pair(),
            job_timeout_training_seconds=6.0,
            job_timeout_prediction_seconds=6.0,
        )
        topics = chaos_topics(settings)
        service = ServiceProcess(settings, tmp_path / "service.log")
        service.start()
        try:
            inputs = await produce_wave(kafka_bootstrap, settings.topic_sales_updated, events)
            await eventually(lambda: emulator_job_running(url, "training"), 90)
            service.kill()  # the job ends 2 s later; the partition is ownerless for ~10 s
            service.start()
            seen = await until_every_input_is_named(kafka_bootstrap, topics, inputs, 120)
        finally:
            status = service.terminate()
    assert status == 0
    failed = [(r.value["datasetId"], r.value["stage"]) for r in seen[topics.failed]]
    assert failed == [], f"datasets failed although their jobs succeeded: {failed}"


@pytest.mark.timeout(240)
async def test_two_different_dataset_failed_events_never_share_a_ce_id(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, tmp_path: Path
) -> None:
    """A failing dataset's first record fails validation (published, its offset closed); SIGKILL
    while the rest of the batch is validated again; a second record of that dataset arrives;
    the re-formed batch starts at the same offset (same run id) and fails the new record: that
    event covers other inputs, so it must not reuse the first one's ce_id (a consumer dropping
    repeats by ce_id would drop it)."""
    data = generate(tenants=1, products=2, days=200, seed=5)
    broken = data.datasets[1].dataset_id
    events = list(sample_events(data, days_per_event=100, invalid=0))
    first_broken = next(i for i, e in enumerate(events) if e.dataset_id == broken)
    later = [e for e in events[first_broken + 1 :] if e.dataset_id == broken]
    batch = [e for e in events if e not in later]
    config = EmulatorConfig(job_seconds=3.0, fail_datasets=(broken,))
    with ServerThread(create_app(config)) as url:
        settings = pipeline_settings(kafka_bootstrap, url, http_port=free_port_pair())
        topics = chaos_topics(settings)
        await admin.create_topics(
            [
                NewTopic(settings.topic_sales_updated, 1, 1),
                NewTopic(settings.topic_state, 1, 1, topic_configs=COMPACTED),
            ]
        )
        service = ServiceProcess(settings, tmp_path / "service.log")
        service.start()
        try:
            inputs = await produce_wave(kafka_bootstrap, settings.topic_sales_updated, batch)
            await collect(
                kafka_bootstrap, [topics.failed], lambda seen: bool(seen[topics.failed]), 90
            )
            service.kill()  # the valid dataset is being validated again: not handed off
            inputs += await produce_wave(kafka_bootstrap, settings.topic_sales_updated, later)
            service.start()
            seen = await until_every_input_is_named(kafka_bootstrap, topics, inputs, 150)
        finally:
            status = service.terminate()
    assert status == 0
    outputs = [as_output(r) for t in (topics.prediction, topics.failed) for r in seen[t]]
    assert account(inputs, outputs, topics).lost == []
    assert ce_id_collisions(outputs, topics) == []
