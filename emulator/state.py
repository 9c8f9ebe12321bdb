"""``Emulator``: everything one emulator instance holds, handed explicitly to its routes."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Literal

import httpx

from emulator.analytics.calendar import day_of
from emulator.auth import Signer
from emulator.config import EmulatorConfig
from emulator.engine import Engine
from emulator.stats import Stats
from emulator.webhooks import WebhookSender

UploadKind = Literal["raw_data", "prediction"]


@dataclass
class UploadSlot:
    """A presigned URL handed out: whose it is, which job its PUT starts, what was PUT."""

    tenant: str
    job_id: str
    kind: UploadKind
    body_hash: str | None = None


class TokenBucket:
    """The ``rate_limit_per_second`` limiter: a bucket of ``max(1, rate)`` requests."""

    def __init__(self) -> None:
        self._tokens: float | None = None
        self._stamp = 0.0

    def wait(self, rate: float, now: float) -> float:
        """0 if a request may pass now (and take a token), else seconds until one may."""
        if rate <= 0:
            return 0.0
        capacity = max(1.0, rate)
        tokens = capacity if self._tokens is None else self._tokens
        tokens = min(capacity, tokens + (now - self._stamp) * rate)
        self._stamp = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0.0
        self._tokens = tokens
        return (1.0 - tokens) / rate


class Emulator:
    """Config (changeable at run time), engine, signer, uploads, counters and fault RNG."""

    def __init__(
        self, config: EmulatorConfig, webhook_transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.initial = config
        self.config = config
        self.signer = Signer()
        self.stats = Stats()
        self.rng = random.Random(config.seed)
        self.bucket = TokenBucket()
        self.uploads: dict[str, UploadSlot] = {}
        self.sink: list[dict[str, object]] = []
        self.engine = Engine(
            lambda: self.config, self.today, self.stats, WebhookSender(webhook_transport)
        )

    def today(self) -> int:
        """Day number of "today": the ``today`` knob, else the current UTC date."""
        date = self.config.today or dt.datetime.now(dt.UTC).date()
        return day_of(date)

    def configure(self, config: EmulatorConfig) -> None:
        """Swap the config; a new seed restarts the fault RNG."""
        if config.seed != self.config.seed:
            self.rng = random.Random(config.seed)
        self.config = config

    async def reset(self) -> None:
        """Back to the start: initial config, no jobs, data, uploads, counters or sink entries."""
        self.config = self.initial
        self.rng = random.Random(self.initial.seed)
        self.bucket = TokenBucket()
        self.uploads.clear()
        self.sink.clear()
        self.stats.clear()
        await self.engine.reset(self.initial.seed)
