"""All configuration, read once from ``IOB_*`` environment variables into :class:`Settings`.

This is the only module that reads the environment (style.md §8). Every field is listed in the
README's configuration table; ``python -m service config`` prints the effective values with
secrets masked.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

IoEnvironment = Literal["prod", "stage", "test", "custom"]

# Base URLs and token endpoints of the real IO API (io-api-contract.md §2).
IO_PRESETS: dict[str, tuple[str, str, str]] = {
    "prod": (
        "https://api.machine-learning-factory.visma.com/io",
        "https://connect.visma.com/connect/token",
        "machine-learning-factory-api-prod:io",
    ),
    "stage": (
        "https://api.machine-learning-factory.stage.visma.com/io",
        "https://connect.identity.stagaws.visma.com/connect/token",
        "machine-learning-factory-api-stage:io",
    ),
    "test": (
        "https://api.machine-learning-factory.test.visma.com/io",
        "https://connect.identity.stagaws.visma.com/connect/token",
        "machine-learning-factory-api-test:io",
    ),
}


class Settings(BaseSettings):
    """The service's whole configuration. Defaults are the local development set-up."""

    model_config = SettingsConfigDict(env_prefix="IOB_", extra="ignore", frozen=True)

    # --- Kafka
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "io-bridge"
    client_id: str = "io-bridge"
    topic_sales_updated: str = "erp.sales-updated.v1"
    topic_prediction_ready: str = "io.prediction-ready.v1"
    topic_classification_ready: str = "io.classification-ready.v1"
    topic_dataset_failed: str = "io.dataset-failed.v1"
    topic_dlq: str = "erp.sales-updated.v1.dlq"
    topic_state: str = "io-bridge.state.v1"
    topic_wakeups: str = "io-bridge.wakeups.v1"
    create_topics: bool = True
    topic_partitions: int = Field(
        default=6, ge=1, description="partitions for a created input topic"
    )
    topic_replication_factor: int = Field(default=1, ge=1)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_session_timeout_seconds: float = Field(default=45.0, gt=0)
    exactly_once: bool = False
    transactional_id: str | None = None  # exactly-once: default "<group>-<client id>-<host>"

    # --- IO API
    io_environment: IoEnvironment = "custom"
    io_base_url: str = "http://127.0.0.1:8080/io"
    io_token_url: str = "http://127.0.0.1:8080/connect/token"  # noqa: S105 - a URL, not a secret
    io_scope: str = "machine-learning-factory-api-stage:io"
    io_client_id: str = "io-bridge-local"
    io_client_secret: SecretStr = SecretStr("io-bridge-local-secret")
    io_timeout_seconds: float = Field(default=30.0, gt=0)
    io_max_retries: int = Field(default=6, ge=0)
    io_backoff_base_seconds: float = Field(default=0.2, gt=0)
    io_backoff_max_seconds: float = Field(default=10.0, gt=0)
    io_max_concurrency: int = Field(default=16, ge=1)
    io_rate_limit_per_second: float = Field(default=50.0, gt=0)
    io_token_refresh_margin_seconds: float = Field(default=60.0, ge=0)
    io_not_visible_window_seconds: float = Field(default=15.0, ge=0)

    # --- webhook fast path: IO calls back when a job ends; polling stays the fallback
    webhook_public_url: str | None = None  # e.g. https://io-bridge.example.com/webhooks/io
    webhook_api_key: SecretStr | None = None

    # --- batching and runs
    batch_linger_seconds: float = Field(default=5.0, gt=0)
    batch_max_datasets: int = Field(default=500, ge=1)
    batch_max_bytes: int = Field(default=4_000_000, ge=1024)
    max_event_bytes: int = Field(default=1_000_000, ge=1024)
    max_pending_bytes: int = Field(default=64_000_000, ge=1024)
    max_runs_in_flight: int = Field(default=200, ge=1)
    # None: 0.5 s, or the cap when webhooks are on (the callback ends the wait; a poll is the
    # fallback, and an early one would only spend a call).
    poll_first_seconds: float | None = Field(default=None, gt=0)
    poll_max_seconds: float = Field(default=10.0, gt=0)
    job_timeout_validation_seconds: float = Field(default=900.0, gt=0)
    job_timeout_training_seconds: float = Field(default=3600.0, gt=0)
    job_timeout_prediction_seconds: float = Field(default=1800.0, gt=0)
    job_timeout_classification_seconds: float = Field(default=1800.0, gt=0)
    default_frequency: Literal["D", "W", "M"] = "W"
    default_horizon: int = Field(default=12, ge=1)
    default_service_level: float = Field(default=0.95, gt=0, lt=1)
    retrain_interval_seconds: float = Field(default=7 * 86400.0, gt=0)
    classification_interval_seconds: float = Field(default=86400.0, ge=0)
    abc_driver: Literal["revenue", "quantity", "margin"] = "revenue"

    # --- operating
    http_host: str = "0.0.0.0"  # noqa: S104 - the probe/metrics port must be reachable in a pod
    http_port: int = Field(default=8000, ge=0, le=65535)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_grace_seconds: float = Field(default=25.0, gt=0)

    @property
    def webhooks_enabled(self) -> bool:
        return self.webhook_public_url is not None

    @property
    def first_poll_seconds(self) -> float:
        """The first poll's delay after a job starts (``poll_first_seconds``, or its default)."""
        if self.poll_first_seconds is not None:
            return self.poll_first_seconds
        return self.poll_max_seconds if self.webhooks_enabled else 0.5

    @model_validator(mode="after")
    def _webhook_needs_a_key(self) -> Settings:
        if (self.webhook_public_url is None) != (self.webhook_api_key is None):
            raise ValueError("IOB_WEBHOOK_PUBLIC_URL and IOB_WEBHOOK_API_KEY go together")
        return self

    @model_validator(mode="after")
    def _apply_io_preset(self) -> Settings:
        """A named IO environment fixes base URL, token URL and scope (explicit URLs otherwise)."""
        if self.io_environment != "custom":
            base, token, scope = IO_PRESETS[self.io_environment]
            object.__setattr__(self, "io_base_url", base)
            object.__setattr__(self, "io_token_url", token)
            object.__setattr__(self, "io_scope", scope)
        return self
