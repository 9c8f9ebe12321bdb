"""The demo's output folder: output events as JSONL (one file per topic), logs, summary, plots.

Records are written as they arrive, so an interrupted demo still leaves what it saw. Each line
keeps the record's coordinates and headers; the body is parsed JSON under ``data``, or, for DLQ
records that were never JSON, the original text (``value``) or bytes (``valueBase64``).
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from service.devkit.demo_outcomes import KINDS, Kind, Received

FILES: dict[Kind, str] = {
    "prediction": "io.prediction-ready.v1.jsonl",
    "classification": "io.classification-ready.v1.jsonl",
    "failed": "io.dataset-failed.v1.jsonl",
    "dlq": "erp.sales-updated.v1.dlq.jsonl",
}
SUMMARY = "summary.json"
PLOTS = "plots"
LOGS = "logs"


def prepare(out: Path) -> None:
    """Create ``out`` and remove what an earlier demo wrote there (and nothing else)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (*FILES.values(), SUMMARY):
        (out / name).unlink(missing_ok=True)
    for folder in (PLOTS, LOGS):
        shutil.rmtree(out / folder, ignore_errors=True)


def line(record: Received) -> dict[str, Any]:
    """One JSONL line for a record."""
    row: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "key": None if record.key is None else record.key.decode("utf-8", "replace"),
        "headers": {k: v.decode("utf-8", "replace") for k, v in record.headers},
    }
    data = record.data
    if data is not None or record.value is None:
        row["data"] = data
        return row
    try:
        row["value"] = record.value.decode("utf-8")
    except UnicodeDecodeError:
        row["valueBase64"] = base64.b64encode(record.value).decode("ascii")
    return row


class JsonlSink:
    """Open JSONL files, one per output kind, appended to as records arrive."""

    def __init__(self, out: Path) -> None:
        self._files: dict[Kind, IO[str]] = {
            kind: (out / FILES[kind]).open("w", encoding="utf-8") for kind in KINDS
        }

    def write(self, record: Received) -> None:
        file = self._files[record.kind]
        file.write(json.dumps(line(record), separators=(",", ":")) + "\n")

    def close(self) -> None:
        for file in self._files.values():
            file.close()

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The lines of a JSONL file written by :class:`JsonlSink`."""
    with path.open(encoding="utf-8") as file:
        return [json.loads(text) for text in file if text.strip()]


def write_summary(out: Path, summary: dict[str, Any]) -> Path:
    path = out / SUMMARY
    path.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
