"""``io-bridge replay`` counts and ``io-bridge tail`` formatting (no broker needed)."""

from __future__ import annotations

import json
from pathlib import Path

from service.cli import build_parser
from service.devkit.demo_outcomes import Received
from service.devkit.replay import ReplayCount
from service.devkit.sample_data import generate, transaction_rows, write_transactions
from service.devkit.sample_replay import group_into_events, read_transactions
from service.devkit.tail import body_text, format_record


def test_replay_counts_events_transactions_tenants_and_suspect_rows(tmp_path: Path) -> None:
    """Counting passes every event through and tallies what was sent."""
    data = generate(tenants=2, products=3, days=60, seed=4)
    export = tmp_path / "export.csv"
    rows = write_transactions(transaction_rows(data), export)
    with export.open("a") as file:
        file.write(",sku-x,t-1,2026-01-01,3,,\n")  # no tenant id
    count = ReplayCount()
    sent = list(count.counted(group_into_events(read_transactions(export), 50)))
    assert count.events == len(sent)
    assert count.transactions == rows
    assert (count.tenants, len(count.datasets), count.suspect) == (2, 6, 1)
    report = count.report("erp.sales-updated.v1", "127.0.0.1:9092")
    assert report.startswith(
        f"sent {len(sent)} events ({rows} transactions, 2 tenants, 6 datasets)"
    )
    assert "1 lack ids" in report


def test_a_record_prints_its_coordinates_headers_and_indented_json() -> None:
    """First line: topic[partition]@offset, key and time; then headers; then the body."""
    record = Received(
        "other",
        "io.prediction-ready.v1",
        3,
        42,
        b"tenant-001",
        b'{"tenantId":"tenant-001","forecast":[]}',
        (("ce_type", b"com.visma.io-bridge.prediction-ready.v1"),),
        0,
    )
    lines = format_record(record).splitlines()
    assert lines[0] == "io.prediction-ready.v1[3]@42  key=tenant-001  1970-01-01T00:00:00+00:00"
    assert lines[1] == "  ce_type: com.visma.io-bridge.prediction-ready.v1"
    assert json.loads("\n".join(lines[2:])) == {"tenantId": "tenant-001", "forecast": []}
    assert lines[3] == '  "tenantId": "tenant-001",'


def test_bodies_that_are_not_json_print_as_text_bytes_or_tombstones() -> None:
    """DLQ records keep the producer's bytes: text as is, other bytes as base64."""
    assert body_text(b'{"cut') == '{"cut'
    assert body_text(b"\xd8\x00") == "base64:2AA="
    assert body_text(None) == "(no value: tombstone)"


def test_the_cli_knows_demo_replay_and_tail_with_their_options() -> None:
    """The sub-commands parse their documented flags."""
    parser = build_parser()
    demo = parser.parse_args(["demo", "--tenants", "2", "--products", "6", "--days", "400"])
    assert (demo.tenants, demo.products, demo.days, demo.seed, demo.envelope) == (
        2,
        6,
        400,
        42,
        "mixed",
    )
    assert demo.out == Path("demo-out")
    replay = parser.parse_args(["replay", "x.csv", "--topic", "in", "--bootstrap", "h:1"])
    assert (replay.file, replay.topic, replay.bootstrap, replay.envelope) == (
        Path("x.csv"),
        "in",
        "h:1",
        "binary",
    )
    tail = parser.parse_args(["tail", "t", "--from-beginning", "--max", "3"])
    assert (tail.topic, tail.from_beginning, tail.max) == ("t", True, 3)
