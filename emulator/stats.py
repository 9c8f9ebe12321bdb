"""Counters the admin API reports (``GET /_emulator/stats``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


class Stats:
    """API calls by operation and status code, uploads, jobs started by kind, webhooks."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Zero every counter."""
        self.calls: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.jobs_started: Counter[str] = Counter()
        self.webhooks: Counter[str] = Counter()
        self.uploads = 0

    def call(self, operation: str, status: int) -> None:
        """Count one answered request."""
        self.calls[operation][str(status)] += 1

    def snapshot(self, datasets: dict[str, int]) -> dict[str, Any]:
        """The JSON body of ``/_emulator/stats``; ``datasets`` is datasets stored per tenant."""
        return {
            "calls": {op: dict(sorted(codes.items())) for op, codes in sorted(self.calls.items())},
            "uploads": self.uploads,
            "jobs_started": dict(sorted(self.jobs_started.items())),
            "datasets": dict(sorted(datasets.items())),
            "webhooks": dict(sorted(self.webhooks.items())),
        }
