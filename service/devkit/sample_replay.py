"""A partner's own sales export (CSV or JSONL) as sales-updated events, for ``io-bridge replay``.

Reading is forgiving about spelling (``tenantId``, ``tenant_id``, ``Tenant-ID``; comma,
semicolon or tab separated; decimal commas in ``;``-separated files) and strict about nothing:
a row with a missing id, a bad date or an unparsable line is still passed on, so the service's
own validation decides and the operator finds it in the DLQ instead of it vanishing here.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from service.devkit.sample_model import SampleData, SampleEvent
from service.devkit.sample_wire import (
    Envelope,
    Json,
    cloudevent_id,
    source_of,
    transaction_json,
    wrap,
)

COLUMNS = (
    "tenantId",
    "datasetId",
    "transactionId",
    "departureDate",
    "quantity",
    "unitPrice",
    "unitCost",
)
_DATASET_FIELDS = ("stockItem", "forecast", "retrain")
_IDS = ("tenantId", "datasetId")
_NUMERIC = frozenset({"quantity", "unitPrice", "unitCost"})
_OPTIONAL = frozenset({"unitPrice", "unitCost"})
_BY_FOLDED = {name.lower(): name for name in (*COLUMNS, *_DATASET_FIELDS)}
UNPARSABLE = "_unparsable"


def canonical(key: str) -> str:
    """The camelCase field name for any spelling of it (unknown names pass unchanged)."""
    stripped = key.strip()
    return _BY_FOLDED.get(stripped.replace("_", "").replace("-", "").lower(), stripped)


def read_transactions(path: str | os.PathLike[str]) -> Iterator[dict[str, object]]:
    """Rows of a CSV (with a header) or JSONL export, keys in camelCase, in file order.

    The format is told by the first line (``{`` starts JSONL). A JSONL line that is not a JSON
    object comes out as ``{"_unparsable": <line>, "_line": <n>}``.
    """
    with Path(path).open(encoding="utf-8-sig", newline="") as file:
        first = file.readline()
        while first and not first.strip():
            first = file.readline()
        lines = itertools.chain([first], file)
        yield from _jsonl(lines) if first.lstrip().startswith("{") else _csv(first, lines)


def _jsonl(lines: Iterable[str]) -> Iterator[dict[str, object]]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict):
            yield {canonical(str(k)): v for k, v in row.items()}
        else:
            yield {UNPARSABLE: line.rstrip("\r\n"), "_line": n}


def _csv(header_line: str, lines: Iterable[str]) -> Iterator[dict[str, object]]:
    delimiter = max(",;\t", key=header_line.count)
    reader = csv.reader(lines, delimiter=delimiter)
    header = [canonical(name) for name in next(reader, [])]
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield _csv_row(header, cells, decimal_comma=delimiter != ",")


def _csv_row(header: list[str], cells: list[str], *, decimal_comma: bool) -> dict[str, object]:
    row: dict[str, object] = {}
    for name, cell in zip(header, cells, strict=False):
        text = cell.strip()
        if name in _OPTIONAL and not text:
            continue  # no price data for this line: the field is optional
        row[name] = _number(text, decimal_comma=decimal_comma) if name in _NUMERIC else text
    return row


def _number(text: str, *, decimal_comma: bool) -> object:
    """``int`` or ``float`` when the text is one, else the text itself (validation decides)."""
    if decimal_comma and "," in text and "." not in text:
        text = text.replace(",", ".")
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            continue
    return text


@dataclass
class _Group:
    tenant: object
    dataset: object
    lines: list[Json] = field(default_factory=list)
    extras: Json = field(default_factory=dict)
    sent: int = 0


def group_into_events(
    rows: Iterable[Mapping[str, object]],
    transactions_per_event: int = 500,
    *,
    envelope: Envelope = "plain",
) -> Iterator[SampleEvent]:
    """Group rows per (tenant, dataset) into sales-updated events of at most N transactions.

    Streams: a group is sent as soon as it is full, the rest at the end in first-seen order.
    The latest ``stockItem``/``forecast``/``retrain`` seen for a dataset rides on its events.
    ``expected_valid`` is a guess (both ids present); the service's validation is the judge.
    """
    if transactions_per_event < 1:
        raise ValueError("transactions_per_event must be at least 1")
    groups: dict[tuple[str, str], _Group] = {}
    for row in rows:
        if UNPARSABLE in row:
            yield _raw_event(row)
            continue
        key = (repr(row.get("tenantId")), repr(row.get("datasetId")))
        group = groups.setdefault(key, _Group(row.get("tenantId"), row.get("datasetId")))
        _add(group, row)
        if len(group.lines) >= transactions_per_event:
            yield _flush(group, envelope)
    yield from (_flush(g, envelope) for g in groups.values() if g.lines)


def _add(group: _Group, row: Mapping[str, object]) -> None:
    group.extras.update({k: row[k] for k in _DATASET_FIELDS if k in row})
    group.lines.append({k: v for k, v in row.items() if k not in _IDS and k not in _DATASET_FIELDS})


def _flush(group: _Group, envelope: Envelope) -> SampleEvent:
    body: Json = {
        k: v for k, v in zip(_IDS, (group.tenant, group.dataset), strict=True) if v is not None
    }
    body["transactions"] = lines = group.lines
    body.update(group.extras)
    tenant, dataset = _text(group.tenant), _text(group.dataset)
    group.sent, group.lines = group.sent + 1, []
    value, headers = wrap(
        body,
        mode=envelope,
        event_id=cloudevent_id("replay", tenant, dataset, str(group.sent)),
        source=source_of(tenant),
        subject=dataset,
    )
    ids_present = bool(tenant and dataset)
    return SampleEvent(
        key=tenant.encode(),
        value=value,
        headers=headers,
        expected_valid=ids_present,
        label="replay" if ids_present else "replay:missing-id",
        tenant_id=tenant,
        dataset_id=dataset,
        transaction_count=len(lines) if ids_present else 0,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _raw_event(row: Mapping[str, object]) -> SampleEvent:
    return SampleEvent(
        key=b"",
        value=str(row[UNPARSABLE]).encode(),
        headers=[],
        expected_valid=False,
        label="replay:unparsable-line",
    )


def transaction_rows(data: SampleData) -> Iterator[dict[str, object]]:
    """The sample as flat export rows (the :data:`COLUMNS`), dataset by dataset."""
    for d in data.datasets:
        for t in d.transactions:
            yield {"tenantId": d.tenant_id, "datasetId": d.dataset_id, **transaction_json(t)}


def write_transactions(rows: Iterable[Mapping[str, object]], path: str | os.PathLike[str]) -> int:
    """Write rows as JSONL (``.jsonl``/``.ndjson``) or CSV (anything else); return the count."""
    target = Path(path)
    with target.open("w", encoding="utf-8", newline="") as file:
        if target.suffix in (".jsonl", ".ndjson"):
            return _write_jsonl(rows, file)
        return _write_csv(rows, file)


def _write_jsonl(rows: Iterable[Mapping[str, object]], file: IO[str]) -> int:
    count = 0
    for row in rows:
        file.write(json.dumps(row, separators=(",", ":")) + "\n")
        count += 1
    return count


def _write_csv(rows: Iterable[Mapping[str, object]], file: IO[str]) -> int:
    writer = csv.DictWriter(file, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count
