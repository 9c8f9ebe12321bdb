"""What the demo runs on 127.0.0.1: a Kafka broker, the IO API emulator and io-bridge.

- Broker: :class:`~service.devkit.kafka_local.LocalKafka` on a free port pair with its own home
  (``.kafka/demo``), unless a bootstrap address is given (``KAFKA_BOOTSTRAP_SERVERS``); then the
  demo's topics and consumer group get a unique suffix, so reruns never read old events.
- IO API: the emulator as a child process (``io-bridge emulator``, the same server ``make
  emulator`` runs), unless real credentials are configured: ``IOB_IO_ENVIRONMENT`` set to
  ``prod``/``stage``/``test`` together with ``IOB_IO_CLIENT_ID``/``IOB_IO_CLIENT_SECRET``.
  The emulator's clock is set to the day after the sample ends, so forecasts continue the
  history.
- io-bridge: ``python -m service`` as a child process configured only by ``IOB_*`` variables,
  as in production: its own interpreter and event loop, the real SIGTERM drain on the way out,
  and progress read from its ``/metrics`` port like a scraper would.

:meth:`Stack.stop` stops them in reverse (service first, so it commits and drains) and is safe to
call more than once; pid files under the home let the next demo stop what a killed one left.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from service.config import Settings
from service.devkit.demo_outcomes import Kind
from service.devkit.demo_procs import Child, DemoError, free_port, stop_stale, wait_http
from service.devkit.kafka_local import LocalKafka, free_port_pair

REPO = Path(__file__).resolve().parents[2]
EMULATOR_CLIENT = ("io-bridge-local", "io-bridge-local-secret")
# Quicker than production defaults (style: a demo should move), overridable by IOB_* variables.
SERVICE_TUNING = {
    "IOB_BATCH_LINGER_SECONDS": "2",
    "IOB_POLL_FIRST_SECONDS": "0.2",
    "IOB_POLL_MAX_SECONDS": "2",
    "IOB_SHUTDOWN_GRACE_SECONDS": "15",
    # Two years of history arrive within a minute: with the production interval (7 days) only
    # the first batch of a dataset would train, and its final forecast would come from a model
    # that saw a few months. Retrain on every run, as if each batch came a week apart.
    "IOB_RETRAIN_INTERVAL_SECONDS": "1",
}


@dataclass(frozen=True)
class Topics:
    sales: str
    prediction: str
    classification: str
    failed: str
    dlq: str
    state: str
    group: str

    @classmethod
    def named(cls, suffix: str = "") -> Topics:
        """The default topic names (from :class:`Settings`) with ``suffix`` appended."""

        def name(field_name: str) -> str:
            return str(Settings.model_fields[f"topic_{field_name}"].default) + suffix

        return cls(
            sales=name("sales_updated"),
            prediction=name("prediction_ready"),
            classification=name("classification_ready"),
            failed=name("dataset_failed"),
            dlq=name("dlq"),
            state=name("state"),
            group="io-bridge-demo" + suffix,
        )

    def kinds(self) -> dict[str, Kind]:
        """The output topics and what each carries."""
        return {
            self.prediction: "prediction",
            self.classification: "classification",
            self.failed: "failed",
            self.dlq: "dlq",
        }


def real_io(settings: Settings) -> bool:
    """Whether the demo should talk to the real IO API (decided by ``IOB_IO_ENVIRONMENT``)."""
    if settings.io_environment == "custom":
        return False
    if settings.io_client_secret.get_secret_value() == EMULATOR_CLIENT[1]:
        raise DemoError(
            f"IOB_IO_ENVIRONMENT={settings.io_environment} needs IOB_IO_CLIENT_ID and"
            " IOB_IO_CLIENT_SECRET (unset IOB_IO_ENVIRONMENT to use the emulator)"
        )
    return True


@dataclass
class Stack:
    """The running parts of one demo; build with :meth:`plan`, then start and stop."""

    home: Path
    logs: Path
    bootstrap: str | None
    topics: Topics
    use_emulator: bool
    today: dt.date
    broker: LocalKafka | None = None
    # Set once start_broker has returned or failed: stop() waits for it, because a Ctrl-C can
    # cancel the await on the starting thread while the thread goes on and starts the broker.
    broker_settled: threading.Event = field(default_factory=threading.Event)
    children: list[Child] = field(default_factory=list)
    metrics_url: str = ""
    emulator_url: str = ""
    took: dict[str, float] = field(default_factory=dict)  # start-up seconds per part

    @classmethod
    def plan(
        cls, home: Path, logs: Path, bootstrap: str | None, today: dt.date, settings: Settings
    ) -> Stack:
        suffix = f".demo-{uuid.uuid4().hex[:8]}" if bootstrap else ""
        return cls(home, logs, bootstrap, Topics.named(suffix), not real_io(settings), today)

    def pids(self) -> dict[str, int]:
        """Pids of what this demo started (for the log and the tests)."""
        found = {c.name: c.pid for c in self.children if c.pid is not None}
        if self.broker is not None and self.broker.pid() is not None:
            found["broker"] = self.broker.pid() or 0
        return found

    def clean_up_stale(self) -> None:
        """Stop what an earlier, killed demo left under this home."""
        self.home.mkdir(parents=True, exist_ok=True)
        stop_stale(self.home / "service.pid", "service")
        stop_stale(self.home / "emulator.pid", "emulator")
        LocalKafka(self.home).stop()

    def start_broker(self) -> str:
        """Start the local broker (blocking: run it in a thread); return its bootstrap."""
        if self.bootstrap:
            return self.bootstrap
        self.broker = LocalKafka(self.home, free_port_pair())
        try:
            self.took["broker"] = self.broker.start()
        finally:
            self.broker_settled.set()
        self.bootstrap = self.broker.bootstrap
        return self.bootstrap

    async def start_emulator(self) -> None:
        if not self.use_emulator:
            return
        began, port = time.monotonic(), free_port()
        env = {**os.environ, "IOE_TODAY": self.today.isoformat()}
        argv = [sys.executable, "-m", "service", "emulator", "--host", "127.0.0.1"]
        child = self._child("emulator", [*argv, "--port", str(port)], env)
        self.emulator_url = f"http://127.0.0.1:{port}"
        url = f"{self.emulator_url}/_emulator/stats"
        await wait_http(url, 60.0, child.running, "the IO API emulator", child.log_tail)
        self.took["emulator"] = time.monotonic() - began

    async def start_service(self) -> None:
        began, port = time.monotonic(), free_port()
        child = self._child(
            "service", [sys.executable, "-m", "service", "run"], self.service_env(port)
        )
        self.metrics_url = f"http://127.0.0.1:{port}/metrics"
        ready = f"http://127.0.0.1:{port}/readyz"
        await wait_http(ready, 120.0, child.running, "io-bridge", child.log_tail)
        self.took["service"] = time.monotonic() - began

    def _child(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = Child(name, argv, env, self.logs / f"{name}.log", self.home / f"{name}.pid", REPO)
        self.children.append(child)
        child.start()
        return child

    def service_env(self, port: int) -> dict[str, str]:
        """The IOB_* environment of the io-bridge child (the user's own IOB_* included)."""
        t = self.topics
        env = {**SERVICE_TUNING, **os.environ}
        env |= {
            "IOB_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap or "",
            "IOB_GROUP_ID": t.group,
            "IOB_TOPIC_SALES_UPDATED": t.sales,
            "IOB_TOPIC_PREDICTION_READY": t.prediction,
            "IOB_TOPIC_CLASSIFICATION_READY": t.classification,
            "IOB_TOPIC_DATASET_FAILED": t.failed,
            "IOB_TOPIC_DLQ": t.dlq,
            "IOB_TOPIC_STATE": t.state,
            "IOB_CREATE_TOPICS": "true",
            "IOB_HTTP_HOST": "127.0.0.1",
            "IOB_HTTP_PORT": str(port),
            "IOB_LOG_FORMAT": "json",
            # Classify after every prediction run: the demo waits for the classification that
            # follows each dataset's last prediction (it saw the whole history).
            "IOB_CLASSIFICATION_INTERVAL_SECONDS": "0",
        }
        if self.use_emulator:
            env |= {
                "IOB_IO_ENVIRONMENT": "custom",
                "IOB_IO_BASE_URL": f"{self.emulator_url}/io",
                "IOB_IO_TOKEN_URL": f"{self.emulator_url}/connect/token",
                "IOB_IO_CLIENT_ID": EMULATOR_CLIENT[0],
                "IOB_IO_CLIENT_SECRET": EMULATOR_CLIENT[1],
            }
        return env

    def service(self) -> Child | None:
        return next((c for c in self.children if c.name == "service"), None)

    def dead(self) -> list[Child]:
        """Children that exited while they should be running."""
        return [c for c in self.children if c.proc is not None and not c.running()]

    def stop(self) -> dict[str, int | None]:
        """Stop everything in reverse start order; return each child's exit code."""
        codes = {c.name: c.stop(grace_s=20.0) for c in reversed(self.children)}
        if self.broker is not None:
            self.broker_settled.wait(180)  # a broker still starting must be stopped too
            self.broker.stop()
        return codes


async def start(stack: Stack) -> None:
    """Broker and emulator side by side, then the service (it needs both)."""
    broker = asyncio.create_task(asyncio.to_thread(stack.start_broker))
    try:
        await stack.start_emulator()
    finally:
        await broker  # never leave the thread starting a broker nobody will stop
    await stack.start_service()
