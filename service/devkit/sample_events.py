"""Turn sample data into the stream of sales-updated v1 records an ERP would publish.

Each dataset's history is cut into chronological chunks (a calendar window of
``days_per_event`` days, split further at ``transactions_per_event``). The stream walks the
windows in time order and, within a window, interleaves the chunks of all tenants and datasets
in a seeded shuffle that keeps every dataset's own chunks in order. The stock snapshot rides on
each dataset's last event (or on every event), the forecast spec on every event. Invalid events
of :data:`~service.devkit.sample_invalid.INVALID_KINDS` are spread through the stream.
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from service.devkit.sample_invalid import INVALID_KINDS, invalid_event
from service.devkit.sample_model import Dataset, SampleData, SampleEvent
from service.devkit.sample_wire import (
    ENVELOPES,
    Envelope,
    Json,
    cloudevent_id,
    forecast_json,
    source_of,
    stock_item_json,
    transaction_json,
    wrap,
)

INVALID_SHARE = 0.005


@dataclass(frozen=True, slots=True)
class _Chunk:
    dataset: Dataset
    lo: int
    hi: int
    last: bool


def default_invalid_count(valid_events: int) -> int:
    """About 0.5 % of the stream, but at least one event of every invalid kind."""
    return max(len(INVALID_KINDS), round(valid_events * INVALID_SHARE))


def events(
    data: SampleData,
    *,
    transactions_per_event: int = 500,
    days_per_event: int = 90,
    invalid: int | None = None,
    envelope: Envelope | Literal["mixed"] = "plain",
    stock_items: Literal["last", "all"] = "last",
) -> Iterator[SampleEvent]:
    """The sales-updated records for ``data``, valid and (``invalid`` many) invalid, in order.

    ``invalid=None`` means :func:`default_invalid_count`; ``envelope="mixed"`` picks one of the
    three envelopes per record from a seeded stream.
    """
    if transactions_per_event < 1 or days_per_event < 1:
        raise ValueError("transactions_per_event and days_per_event must be at least 1")
    rng, envelopes = random.Random(f"{data.seed}/events"), random.Random(f"{data.seed}/envelopes")
    chunks = _plan(data, rng, transactions_per_event, days_per_event)
    count = default_invalid_count(len(chunks)) if invalid is None else invalid
    bad_at = set(rng.sample(range(len(chunks) + count), count)) if data.datasets else set()
    pending, bad = deque(chunks), 0
    for position in range(len(chunks) + len(bad_at)):
        mode = envelopes.choice(ENVELOPES) if envelope == "mixed" else envelope
        if position in bad_at:
            target = rng.choice(data.datasets)
            yield invalid_event(
                INVALID_KINDS[bad % len(INVALID_KINDS)], bad, target, data.end, mode
            )
            bad += 1
        else:
            yield _valid_event(pending.popleft(), mode, every_stock=stock_items == "all")


def _plan(
    data: SampleData, rng: random.Random, per_event: int, days_per_event: int
) -> list[_Chunk]:
    by_window: dict[int, list[_Chunk]] = defaultdict(list)
    for dataset in data.datasets:
        spans = _spans(dataset, data, per_event, days_per_event)
        for n, (window, lo, hi) in enumerate(spans, start=1):
            by_window[window].append(_Chunk(dataset, lo, hi, last=n == len(spans)))
    return [c for w in sorted(by_window) for c in _interleave(rng, by_window[w])]


def _spans(
    dataset: Dataset, data: SampleData, per_event: int, days_per_event: int
) -> list[tuple[int, int, int]]:
    """``(window, lo, hi)`` slices of the dataset's transactions, oldest first."""
    windows = [(t.departure_date - data.start).days // days_per_event for t in dataset.transactions]
    spans, lo = [], 0
    for i in range(1, len(windows) + 1):
        if i == len(windows) or i - lo >= per_event or windows[i] != windows[lo]:
            spans.append((windows[lo], lo, i))
            lo = i
    return spans


def _interleave(rng: random.Random, chunks: Sequence[_Chunk]) -> list[_Chunk]:
    """Shuffle chunks across datasets while each dataset's chunks keep their order."""
    queues: dict[tuple[str, str], deque[_Chunk]] = defaultdict(deque)
    for chunk in chunks:
        queues[chunk.dataset.tenant_id, chunk.dataset.dataset_id].append(chunk)
    turns = [(c.dataset.tenant_id, c.dataset.dataset_id) for c in chunks]
    rng.shuffle(turns)
    return [queues[turn].popleft() for turn in turns]


def payload(dataset: Dataset, lo: int, hi: int, *, with_stock: bool) -> Json:
    """The sales-updated v1 data of ``dataset.transactions[lo:hi]``."""
    body: Json = {
        "tenantId": dataset.tenant_id,
        "datasetId": dataset.dataset_id,
        "transactions": [transaction_json(t) for t in dataset.transactions[lo:hi]],
    }
    if with_stock:
        body["stockItem"] = stock_item_json(dataset.stock_item)
    body["forecast"] = forecast_json(dataset.forecast)
    return body


def _valid_event(chunk: _Chunk, mode: Envelope, *, every_stock: bool) -> SampleEvent:
    d, lines = chunk.dataset, chunk.dataset.transactions
    first, last = lines[chunk.lo].transaction_id, lines[chunk.hi - 1].transaction_id
    value, headers = wrap(
        payload(d, chunk.lo, chunk.hi, with_stock=every_stock or chunk.last),
        mode=mode,
        event_id=cloudevent_id(d.tenant_id, d.dataset_id, first, last),
        source=source_of(d.tenant_id),
        subject=d.dataset_id,
    )
    return SampleEvent(
        key=d.tenant_id.encode(),
        value=value,
        headers=headers,
        expected_valid=True,
        label="valid",
        tenant_id=d.tenant_id,
        dataset_id=d.dataset_id,
        transaction_count=chunk.hi - chunk.lo,
    )
