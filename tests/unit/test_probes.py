"""The probe server over real HTTP, reading a real ``Health`` that runs on an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from service.adapters.http_probes import ProbeServer
from service.app import Health
from service.bootstrap import LOOP_STALL_SECONDS, _liveness, _readiness
from service.metrics import Metrics
from tests.emulator_fixtures import tls_context

LOOPS = ("consume", "flush", "commit")


@dataclass
class Clock:
    """A monotonic clock the test moves by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Probed:
    clock: Clock
    health: Health
    metrics: Metrics
    client: httpx.AsyncClient

    def beat_all(self) -> None:
        for loop in LOOPS:
            self.health.beat(loop)


@pytest.fixture
async def probed() -> AsyncIterator[Probed]:
    """A ProbeServer on a free port wired to the service's own liveness and readiness checks."""
    clock = Clock()
    health = Health(clock)
    metrics = Metrics(CollectorRegistry())
    server = ProbeServer(metrics.registry, _liveness(health), _readiness(health))
    port = await server.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", verify=tls_context()
        ) as client:
            yield Probed(clock, health, metrics, client)
    finally:
        await server.stop()


def ready(health: Health) -> None:
    """The state of a service that has restored its first assignment and reaches the broker."""
    health.ready = health.joined = health.broker_ok = True


async def test_healthz_is_ok_while_every_loop_beats(probed: Probed) -> None:
    """Fresh heartbeats of all three loops: 200 ok."""
    probed.beat_all()
    probed.clock.now += 5
    answer = await probed.client.get("/healthz")
    assert (answer.status_code, answer.text) == (200, "ok\n")


async def test_healthz_is_ok_before_any_loop_has_started(probed: Probed) -> None:
    """No beats yet (the first restore may take minutes): liveness does not fail."""
    probed.clock.now += 10 * LOOP_STALL_SECONDS
    assert (await probed.client.get("/healthz")).status_code == 200


async def test_healthz_fails_naming_the_loop_that_stopped_beating(probed: Probed) -> None:
    """One loop silent for longer than the stall limit while the others beat: 503 naming it."""
    probed.beat_all()
    probed.clock.now += LOOP_STALL_SECONDS + 1
    probed.health.beat("consume")
    probed.health.beat("commit")
    answer = await probed.client.get("/healthz")
    assert (answer.status_code, answer.text) == (503, "stalled: flush\n")


async def test_healthz_names_every_stalled_loop_in_order(probed: Probed) -> None:
    """Two silent loops are both named, sorted, so the message is stable."""
    probed.beat_all()
    probed.clock.now += LOOP_STALL_SECONDS + 1
    probed.health.beat("flush")
    answer = await probed.client.get("/healthz")
    assert (answer.status_code, answer.text) == (503, "stalled: commit, consume\n")


async def test_healthz_tolerates_a_loop_silent_for_exactly_the_stall_limit(probed: Probed) -> None:
    """The limit is inclusive: a beat exactly LOOP_STALL_SECONDS old is still alive."""
    probed.beat_all()
    probed.clock.now += LOOP_STALL_SECONDS
    assert (await probed.client.get("/healthz")).status_code == 200


async def test_healthz_recovers_once_the_stalled_loop_beats_again(probed: Probed) -> None:
    """Liveness reflects the latest beat, not a remembered failure."""
    probed.beat_all()
    probed.clock.now += LOOP_STALL_SECONDS + 1
    assert (await probed.client.get("/healthz")).status_code == 503
    probed.beat_all()
    assert (await probed.client.get("/healthz")).status_code == 200


async def test_healthz_ignores_kafka_and_readiness(probed: Probed) -> None:
    """An unreachable broker makes the pod unready, never unlive (no restart storm)."""
    probed.beat_all()
    probed.health.ready = probed.health.joined = True
    probed.health.broker_ok = False
    assert (await probed.client.get("/readyz")).status_code == 503
    assert (await probed.client.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("ready_", "joined", "restoring", "broker_ok", "detail"),
    [
        (False, False, set(), False, "starting"),
        (True, False, set(), True, "joining the consumer group"),
        (True, False, {0, 2}, True, "restoring partitions [0, 2]"),
        (True, True, {2, 0}, True, "restoring partitions [0, 2]"),
        (True, True, set(), False, "Kafka broker unreachable"),
    ],
)
async def test_readyz_fails_until_started_joined_restored_and_connected(
    probed: Probed,
    ready_: bool,
    joined: bool,
    restoring: set[int],
    broker_ok: bool,
    detail: str,
) -> None:
    """Each missing condition gives 503 with its own reason."""
    probed.health.ready, probed.health.joined = ready_, joined
    probed.health.restoring, probed.health.broker_ok = restoring, broker_ok
    answer = await probed.client.get("/readyz")
    assert (answer.status_code, answer.text) == (503, detail + "\n")


async def test_readyz_is_ok_once_restored_and_the_broker_answers(probed: Probed) -> None:
    """All conditions met: 200 ok."""
    ready(probed.health)
    answer = await probed.client.get("/readyz")
    assert (answer.status_code, answer.text) == (200, "ok\n")


async def test_metrics_serve_the_injected_registry_as_prometheus_text(probed: Probed) -> None:
    """/metrics is the exposition of the registry handed in, with its content type."""
    probed.metrics.events_consumed.inc(3)
    answer = await probed.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    consumed = families["io_bridge_events_consumed"].samples
    assert [s.value for s in consumed if s.name.endswith("_total")] == [3.0]


async def test_probe_paths_ignore_a_query_string(probed: Probed) -> None:
    """Probes configured with a query (cache busters) still hit their route."""
    probed.beat_all()
    assert (await probed.client.get("/healthz?ts=1")).status_code == 200


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/livez"), ("POST", "/livez")])
async def test_unknown_paths_are_not_found(probed: Probed, method: str, path: str) -> None:
    """Anything but the probe routes is 404."""
    assert (await probed.client.request(method, path)).status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_a_probe_route_answers_405_to_other_methods(probed: Probed, method: str) -> None:
    """The probe routes are GET only; a known route with another method is 405, not 404."""
    assert (await probed.client.request(method, "/healthz")).status_code == 405
