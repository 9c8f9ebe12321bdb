"""The demo's output folder: JSONL lines per topic, and a clean slate on every run."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from service.devkit import demo_output
from service.devkit.demo_outcomes import Kind, Received


def received(value: bytes | None, kind: Kind = "dlq") -> Received:
    headers = (("dlq.error.reason", b"schema"), ("ce_id", b"x"))
    return Received(kind, "topic-x", 2, 7, b"tenant-001", value, headers, 1_700_000_000_000)


def test_a_json_record_keeps_coordinates_headers_and_parsed_data() -> None:
    """Topic, partition, offset, timestamp, key, headers as text, body under ``data``."""
    row = demo_output.line(received(b'{"tenantId": "tenant-001"}', "prediction"))
    assert row == {
        "topic": "topic-x",
        "partition": 2,
        "offset": 7,
        "timestamp": 1_700_000_000_000,
        "key": "tenant-001",
        "headers": {"dlq.error.reason": "schema", "ce_id": "x"},
        "data": {"tenantId": "tenant-001"},
    }


def test_dlq_records_that_were_never_json_keep_their_original_text_or_bytes() -> None:
    """Broken JSON stays text under ``value``; non-UTF-8 bytes go under ``valueBase64``."""
    assert demo_output.line(received(b'{"cut short'))["value"] == '{"cut short'
    raw = b'{"datasetId":"sku-\xd8"}'
    row = demo_output.line(received(raw))
    assert base64.b64decode(row["valueBase64"]) == raw
    assert "data" not in row
    assert demo_output.line(received(None))["data"] is None


def test_the_sink_writes_one_file_per_output_topic(tmp_path: Path) -> None:
    """Each record lands in its kind's file as one JSON line; all four files exist."""
    with demo_output.JsonlSink(tmp_path) as sink:
        sink.write(received(b'{"a": 1}', "prediction"))
        sink.write(received(b'{"b": 2}', "prediction"))
        sink.write(received(b"junk"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(demo_output.FILES.values())
    rows = demo_output.read_jsonl(tmp_path / demo_output.FILES["prediction"])
    assert [r["data"] for r in rows] == [{"a": 1}, {"b": 2}]
    assert demo_output.read_jsonl(tmp_path / demo_output.FILES["failed"]) == []


def test_prepare_removes_what_an_earlier_demo_wrote_and_nothing_else(tmp_path: Path) -> None:
    """JSONL files, summary, plots and logs go; a file of the user's stays."""
    for name in demo_output.FILES.values():
        (tmp_path / name).write_text("old\n")
    (tmp_path / demo_output.PLOTS).mkdir()
    (tmp_path / demo_output.PLOTS / "abc-pareto.png").write_bytes(b"png")
    (tmp_path / "notes.txt").write_text("mine")
    demo_output.prepare(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_the_summary_is_written_as_indented_json(tmp_path: Path) -> None:
    """summary.json reads back as the dict given."""
    path = demo_output.write_summary(tmp_path, {"seconds": 1.5, "tenants": []})
    assert json.loads(path.read_text()) == {"seconds": 1.5, "tenants": []}
