"""``EmulatorConfig``: every knob of the emulator, frozen, buildable from ``IOE_*`` variables.

Knobs fall in three groups: identity (client credentials, admin key), fault knobs (all off by
default) and job timing. The fault knobs and job timing can be changed at run time through
``PATCH /_emulator/config`` (see :data:`PATCHABLE`); identity is fixed at start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

ENV_PREFIX = "IOE_"
# Server settings the CLI reads itself; they are not part of the app's config.
SERVER_ENV = frozenset({"IOE_HOST", "IOE_PORT", "IOE_LOG_LEVEL"})
DEFAULT_CLIENT_ID = "io-bridge-local"
DEFAULT_CLIENT_SECRET = "io-bridge-local-secret"  # noqa: S105 - a documented local default

Probability = Field(default=0.0, ge=0.0, le=1.0)


class EmulatorConfig(BaseModel):
    """The emulator's knobs. Probabilities are in [0, 1]; durations are seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    client_id: str = Field(default=DEFAULT_CLIENT_ID, min_length=1)
    client_secret: SecretStr = SecretStr(DEFAULT_CLIENT_SECRET)
    admin_key: SecretStr | None = None
    token_lifetime_seconds: float = Field(default=3600.0, ge=0.0)
    presign_ttl_seconds: float = Field(default=3600.0, ge=0.0)
    latency_seconds: float = Field(default=0.0, ge=0.0, le=600.0)
    rate_429: float = Probability
    retry_after_seconds: float = Field(default=1.0, ge=0.0)
    rate_limit_per_second: float = Field(default=0.0, ge=0.0)
    rate_5xx: float = Probability
    not_visible_seconds: float = Field(default=0.0, ge=0.0)
    job_seconds: float = Field(default=1.0, ge=0.0)
    job_seconds_per_dataset: float = Field(default=0.0, ge=0.0)
    fail_datasets: tuple[str, ...] = ()
    hang_datasets: tuple[str, ...] = ()
    seed: int = 0
    today: dt.date | None = None
    min_history_periods: int = Field(default=8, ge=2)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0.0)
    max_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)

    @field_validator("fail_datasets", "hang_datasets", mode="before")
    @classmethod
    def _split_patterns(cls, value: object) -> object:
        """Accept a comma-separated string (env vars, CLI) as well as a list."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> EmulatorConfig:
        """Build from ``IOE_<KNOB>`` variables (e.g. ``IOE_RATE_429=0.1``), then ``overrides``.

        Raises ``ValueError`` on an ``IOE_`` variable that names no knob, so typos are loud.
        """
        values: dict[str, Any] = {}
        unknown = []
        for key, raw in environ.items():
            if not key.startswith(ENV_PREFIX) or key in SERVER_ENV:
                continue
            name = key.removeprefix(ENV_PREFIX).lower()
            if name not in cls.model_fields:
                unknown.append(key)
            elif raw != "":
                values[name] = raw
        if unknown:
            raise ValueError(f"unknown emulator variables: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)

    def public(self) -> dict[str, Any]:
        """The config as JSON-ready values, secrets masked."""
        data = self.model_dump(mode="json")
        for name in SECRETS:
            if data.get(name) is not None:
                data[name] = "**********"
        return data

    def patched(self, changes: Mapping[str, Any]) -> EmulatorConfig:
        """A copy with ``changes`` applied; raises ``ValueError`` for fixed or unknown knobs."""
        fixed = sorted(set(changes) - PATCHABLE)
        if fixed:
            raise ValueError(f"not changeable at run time: {', '.join(fixed)}")
        raw = self.model_dump()
        raw.update(changes)
        return EmulatorConfig.model_validate(raw)


SECRETS = ("client_secret", "admin_key")
PATCHABLE = frozenset(EmulatorConfig.model_fields) - {"client_id", "client_secret", "admin_key"}
