"""What the demo expects on the output topics, what arrived, and whether it is all there.

Pure bookkeeping (no Kafka): the demo feeds every output record to :meth:`Outcomes.add` and asks
:meth:`Outcomes.complete`. Completion is exact, not a count: every valid input record (partition,
offset) must be named in the ``source`` of a prediction-ready or dataset-failed event
(architecture §4: nothing lost), every invalid record must be in the DLQ, and every priced
dataset that ended predicted must be classified (or have failed classification).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# "other": a record of any other topic (``io-bridge tail``).
Kind = Literal["prediction", "classification", "failed", "dlq", "other"]
KINDS: tuple[Kind, ...] = ("prediction", "classification", "failed", "dlq")
DatasetKey = tuple[str, str]
Offset = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Received:
    """One record read from an output topic, as bytes; :attr:`data` parses the JSON body."""

    kind: Kind
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int = 0

    @property
    def data(self) -> dict[str, Any] | None:
        """The JSON object in the body, or None (DLQ records keep whatever bytes came in)."""
        try:
            value = json.loads(self.value) if self.value is not None else None
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None


@dataclass
class Expected:
    """What was produced: valid records by offset, invalid ones by tenant, priced datasets."""

    offsets: dict[Offset, DatasetKey] = field(default_factory=dict)
    invalid: Counter[str] = field(default_factory=Counter)
    priced: set[DatasetKey] = field(default_factory=set)

    @property
    def datasets(self) -> set[DatasetKey]:
        return set(self.offsets.values())


@dataclass(frozen=True, slots=True)
class Final:
    """The outcome of a dataset: the event that covers its newest input record."""

    status: Literal["predicted", "failed"]
    last_offset: int
    data: Mapping[str, Any]
    timestamp_ms: int = 0


def _key(data: Mapping[str, Any]) -> DatasetKey:
    return str(data.get("tenantId", "")), str(data.get("datasetId", ""))


class Outcomes:
    """Output events received so far, folded into per-dataset outcomes."""

    def __init__(self, expected: Expected) -> None:
        self.expected = expected
        self.covered: set[Offset] = set()
        self.finals: dict[DatasetKey, Final] = {}
        self.classified: dict[DatasetKey, Mapping[str, Any]] = {}
        # When each dataset was last classified (or failed classification), producer time in ms.
        self.classified_at: dict[DatasetKey, int] = {}
        self.dlq: Counter[str] = Counter()
        self.received: Counter[Kind] = Counter()

    def add(self, record: Received) -> None:
        """Fold one output record in (duplicates are harmless)."""
        self.received[record.kind] += 1
        if record.kind == "dlq":
            self.dlq[(record.key or b"").decode("utf-8", "replace")] += 1
            return
        data = record.data
        if data is None:
            return
        key = _key(data)
        if record.kind == "classification":
            self.classified[key] = data
        if record.kind == "classification" or data.get("stage") == "classification":
            self.classified_at[key] = max(self.classified_at.get(key, 0), record.timestamp_ms)
        else:
            status: Literal["predicted", "failed"] = (
                "predicted" if record.kind == "prediction" else "failed"
            )
            self._outcome(status, data, record.timestamp_ms)

    def add_all(self, records: Iterable[Received]) -> None:
        for record in records:
            self.add(record)

    def _outcome(
        self, status: Literal["predicted", "failed"], data: Mapping[str, Any], timestamp_ms: int
    ) -> None:
        source = data.get("source") or {}
        partition, offsets = int(source.get("partition", -1)), list(source.get("offsets", []))
        self.covered.update((partition, int(o)) for o in offsets)
        last = max(offsets, default=-1)
        key = _key(data)
        known = self.finals.get(key)
        if known is None or last >= known.last_offset:
            self.finals[key] = Final(status, last, data, timestamp_ms)

    # ------------------------------------------------------------------ progress
    def missing(self) -> set[Offset]:
        """Valid input records no prediction-ready or dataset-failed names yet."""
        return set(self.expected.offsets) - self.covered

    def unclassified(self) -> set[DatasetKey]:
        """Priced datasets that ended predicted but were not classified after that prediction.

        Classification runs after a prediction run (architecture §3), so the one that follows a
        dataset's last prediction is the one that saw its whole history.
        """
        return {
            key
            for key, final in self.finals.items()
            if final.status == "predicted"
            and key in self.expected.priced
            and self.classified_at.get(key, -1) < final.timestamp_ms
        }

    def never_classified(self) -> set[DatasetKey]:
        """Priced datasets that ended predicted and have no classification outcome at all."""
        return {key for key in self.unclassified() if key not in self.classified_at}

    def dlq_missing(self) -> int:
        return max(0, sum(self.expected.invalid.values()) - sum(self.dlq.values()))

    def complete(self) -> bool:
        """Every input accounted for and every priced prediction classified after it."""
        return not self.missing() and not self.unclassified() and not self.dlq_missing()

    def settled(self) -> bool:
        """Every input accounted for and every priced prediction classified at some point.

        Weaker than :meth:`complete`: once the service is idle too, nothing more will come.
        """
        return not self.missing() and not self.never_classified() and not self.dlq_missing()

    def datasets_done(self) -> int:
        """Datasets whose every input record is covered."""
        waiting = {self.expected.offsets[o] for o in self.missing()}
        return len(self.expected.datasets - waiting)
