"""Which input offset may be committed: the lowest one not yet durably handed off.

Committing past an offset whose work is still pending would lose it on a crash
(kafka-pitfalls.md: "a later offset committed past an earlier failed one skips the record").
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class OffsetTracker:
    """Open offsets of one partition; ``committable()`` is the next offset safe to commit."""

    position: int = -1  # next offset expected; -1 until the first record
    _open: set[int] = field(default_factory=set)
    _heap: list[int] = field(default_factory=list)

    def consumed(self, offset: int) -> None:
        """A record was read; it stays open until :meth:`done`."""
        self._open.add(offset)
        if offset >= self.position:
            # In order, as records come (once per record, so kept cheap): every queued offset is
            # below ``position``, so the heap stays a heap and heappush would not move it.
            self._heap.append(offset)
            self.position = offset + 1
        else:
            heapq.heappush(self._heap, offset)

    def done(self, offsets: Iterable[int]) -> None:
        """These records' outcomes are durable (DLQ acked, run recorded, or skipped)."""
        self._open.difference_update(offsets)

    def committable(self) -> int | None:
        """The offset to commit (exclusive bound), or None before anything was consumed."""
        while self._heap and self._heap[0] not in self._open:
            heapq.heappop(self._heap)
        if self._heap:
            return self._heap[0]
        return self.position if self.position >= 0 else None

    @property
    def open_count(self) -> int:
        return len(self._open)
