"""``io-bridge replay FILE``: a partner's own ERP export through the same path as the demo.

The file (CSV with a header, or JSONL; see :mod:`service.devkit.sample_replay` for the accepted
spellings) is grouped per tenant and dataset into sales-updated events and produced, keyed by
tenant, to the input topic. Nothing is filtered here: rows the service rejects land in its DLQ,
where ``io-bridge tail <topic>.dlq`` shows why.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from service.config import Settings
from service.devkit.demo_kafka import produce
from service.devkit.sample_model import SampleEvent
from service.devkit.sample_replay import group_into_events, read_transactions
from service.devkit.sample_wire import Envelope


@dataclass
class ReplayCount:
    """What was sent: events, transactions, distinct tenants and datasets, suspect events."""

    events: int = 0
    transactions: int = 0
    suspect: int = 0
    datasets: set[tuple[str, str]] = field(default_factory=set)

    def counted(self, events: Iterable[SampleEvent]) -> Iterator[SampleEvent]:
        """Pass the events through, counting them."""
        for event in events:
            self.events += 1
            self.transactions += event.transaction_count
            self.suspect += not event.expected_valid
            if event.expected_valid:
                self.datasets.add((event.tenant_id, event.dataset_id))
            yield event

    @property
    def tenants(self) -> int:
        return len({tenant for tenant, _ in self.datasets})

    def report(self, topic: str, bootstrap: str) -> str:
        text = (
            f"sent {self.events} events ({self.transactions} transactions, {self.tenants} tenants,"
            f" {len(self.datasets)} datasets) to {topic} on {bootstrap}"
        )
        if self.suspect:
            text += f"; {self.suspect} lack ids or could not be parsed (expect them in the DLQ)"
        return text


async def replay(
    path: Path, bootstrap: str, topic: str, envelope: Envelope, per_event: int
) -> ReplayCount:
    """Read, group and produce the file; return the counts."""
    count = ReplayCount()
    rows = read_transactions(path)
    events = count.counted(group_into_events(rows, per_event, envelope=envelope))
    await produce(bootstrap, topic, events)
    return count


def run(args: argparse.Namespace) -> int:
    """The ``io-bridge replay`` command."""
    if not args.file.is_file():
        print(f"replay: no such file: {args.file}")
        return 2
    settings = Settings()
    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    topic = args.topic or settings.topic_sales_updated
    count = asyncio.run(replay(args.file, bootstrap, topic, args.envelope, args.per_event))
    print(count.report(topic, bootstrap))
    follow = f"io-bridge tail {settings.topic_prediction_ready} --bootstrap {bootstrap}"
    print(f"follow the results: {follow}")
    return 0
