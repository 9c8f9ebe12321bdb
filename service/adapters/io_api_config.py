"""Configuration of the IO API client, mapped from ``Settings``' ``io_*`` fields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import SecretStr

from service.config import IO_PRESETS, Settings


@dataclass(frozen=True, slots=True)
class IoApiClientConfig:
    """Where the IO API is and how patiently to talk to it.

    ``base_url`` ends before the operation path (``.../io``). ``max_concurrency`` and
    ``rate_limit_per_second`` may be ``None`` to switch the gate off; ``max_retries`` counts
    retries after the first attempt (5xx, timeouts, connection errors and 429s share it).
    ``timeout`` bounds each HTTP attempt as a whole. ``not_visible_window`` is how long a 404
    on a job this client just created means "not visible yet" (§3.3) rather than "not found".
    """

    base_url: str
    token_url: str
    scope: str
    client_id: str
    client_secret: SecretStr
    timeout: float = 30.0
    max_retries: int = 6
    backoff_base: float = 0.2
    backoff_max: float = 10.0
    max_concurrency: int | None = 16
    rate_limit_per_second: float | None = 50.0
    token_refresh_margin: float = 60.0
    not_visible_window: float = 15.0

    def __post_init__(self) -> None:
        """Reject values that would make the client hang or spin."""
        if self.timeout <= 0 or self.backoff_base <= 0 or self.backoff_max < self.backoff_base:
            raise ValueError("timeout and backoff_base must be > 0, backoff_max >= backoff_base")
        if self.max_retries < 0 or self.token_refresh_margin < 0 or self.not_visible_window < 0:
            raise ValueError("max_retries, token_refresh_margin, not_visible_window must be >= 0")

    @classmethod
    def from_settings(cls, settings: Settings) -> IoApiClientConfig:
        """The client configuration of ``settings`` (presets already applied by Settings)."""
        return cls(
            base_url=settings.io_base_url,
            token_url=settings.io_token_url,
            scope=settings.io_scope,
            client_id=settings.io_client_id,
            client_secret=settings.io_client_secret,
            timeout=settings.io_timeout_seconds,
            max_retries=settings.io_max_retries,
            backoff_base=settings.io_backoff_base_seconds,
            backoff_max=settings.io_backoff_max_seconds,
            max_concurrency=settings.io_max_concurrency,
            rate_limit_per_second=settings.io_rate_limit_per_second,
            token_refresh_margin=settings.io_token_refresh_margin_seconds,
            not_visible_window=settings.io_not_visible_window_seconds,
        )

    @classmethod
    def for_environment(
        cls,
        environment: Literal["prod", "stage", "test"],
        client_id: str,
        client_secret: SecretStr,
        **knobs: Any,
    ) -> IoApiClientConfig:
        """A configuration for one of the real IO environments (base URL, token URL, scope)."""
        base_url, token_url, scope = IO_PRESETS[environment]
        return cls(base_url, token_url, scope, client_id, client_secret, **knobs)

    def replace(self, **changes: Any) -> IoApiClientConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)
