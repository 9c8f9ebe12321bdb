"""What the demo starts and how it configures io-bridge (no process is started here)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import SecretStr

from service.config import Settings
from service.devkit.demo_procs import DemoError
from service.devkit.demo_stack import Stack, Topics, real_io

TODAY = dt.date(2026, 10, 1)


def test_the_emulator_is_used_unless_a_real_io_environment_is_named() -> None:
    """custom → emulator; stage/test/prod with a secret → the real API."""
    assert real_io(Settings(io_environment="custom")) is False
    real = Settings(io_environment="stage", io_client_secret=SecretStr("s3cret"))
    assert real_io(real) is True


def test_a_real_io_environment_without_credentials_is_refused() -> None:
    """The local default secret would fail later against a real environment, and less clearly."""
    with pytest.raises(DemoError, match="IOB_IO_CLIENT_SECRET"):
        real_io(Settings(io_environment="prod"))


def test_on_an_existing_broker_topics_and_group_get_a_unique_suffix(tmp_path: Path) -> None:
    """Own broker: the default names; someone else's broker: names no earlier run used."""
    own = Stack.plan(tmp_path, tmp_path / "logs", None, TODAY, Settings())
    assert own.topics == Topics.named()
    assert own.topics.sales == "erp.sales-updated.v1"
    shared = Stack.plan(tmp_path, tmp_path / "logs", "127.0.0.1:9092", TODAY, Settings())
    again = Stack.plan(tmp_path, tmp_path / "logs", "127.0.0.1:9092", TODAY, Settings())
    assert shared.topics.sales.startswith("erp.sales-updated.v1.demo-")
    assert shared.topics.group.startswith("io-bridge-demo.demo-")
    assert shared.topics != again.topics
    assert set(shared.topics.kinds().values()) == {"prediction", "classification", "failed", "dlq"}


def test_the_service_gets_the_demos_topics_ports_and_emulator_and_keeps_user_tuning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Demo-owned settings win; quicker defaults yield to the user's IOB_* values."""
    monkeypatch.setenv("IOB_BATCH_LINGER_SECONDS", "7")
    monkeypatch.setenv("IOB_TOPIC_DLQ", "someone-elses-dlq")
    stack = Stack.plan(tmp_path, tmp_path / "logs", "127.0.0.1:1", TODAY, Settings())
    stack.emulator_url = "http://127.0.0.1:5555"
    env = stack.service_env(8123)
    assert env["IOB_BATCH_LINGER_SECONDS"] == "7"
    assert env["IOB_POLL_FIRST_SECONDS"] == "0.2"
    assert env["IOB_TOPIC_DLQ"] == stack.topics.dlq
    assert env["IOB_KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:1"
    assert (env["IOB_HTTP_HOST"], env["IOB_HTTP_PORT"]) == ("127.0.0.1", "8123")
    assert env["IOB_IO_BASE_URL"] == "http://127.0.0.1:5555/io"
    assert env["IOB_CLASSIFICATION_INTERVAL_SECONDS"] == "0"
    settings = Settings.model_validate(
        {k[4:].lower(): v for k, v in env.items() if k.startswith("IOB_")}
    )
    assert settings.topic_prediction_ready == stack.topics.prediction
