"""Arguments of ``io-bridge demo``, ``replay`` and ``tail`` (light: no Kafka, rich or plots here).

``service/cli.py`` builds its parser from these, and imports the commands themselves only when
one runs, so ``io-bridge --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _bootstrap(parser: argparse.ArgumentParser, default: str | None, help_text: str) -> None:
    parser.add_argument("--bootstrap", default=default, help=help_text)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenants", type=int, default=3, help="tenants (default 3)")
    parser.add_argument("--products", type=int, default=100, help="products per tenant (100)")
    parser.add_argument("--days", type=int, default=730, help="days of sales history (730)")
    parser.add_argument("--seed", type=int, default=42, help="sample data seed (42)")
    parser.add_argument(
        "--out", type=Path, default=Path("demo-out"), help="output folder (demo-out)"
    )
    parser.add_argument(
        "--envelope",
        choices=["mixed", "plain", "structured", "binary"],
        default="mixed",
        help="input envelope: a seeded mix (default), plain JSON, or one CloudEvents mode",
    )
    parser.add_argument(
        "--days-per-event", type=int, default=90, help="days of history per event (90)"
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="overall limit in seconds (900)"
    )
    # Dev tooling reads the same variable as the test suite (tests/conftest.py).
    _bootstrap(
        parser,
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        "use this broker instead of starting one (default: $KAFKA_BOOTSTRAP_SERVERS)",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=REPO / ".kafka" / "demo",
        help="the demo broker's state, pid files of what the demo started (.kafka/demo)",
    )


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="CSV or JSONL sales transactions")
    _bootstrap(parser, None, "broker (default: IOB_KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)")
    parser.add_argument("--topic", help="input topic (default: IOB_TOPIC_SALES_UPDATED)")
    parser.add_argument(
        "--envelope",
        choices=["plain", "structured", "binary"],
        default="binary",
        help="CloudEvents binary (default), structured, or plain JSON",
    )
    parser.add_argument("--per-event", type=int, default=500, help="transactions per event (500)")


def add_tail_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", help="topic to print, e.g. io.prediction-ready.v1")
    _bootstrap(parser, None, "broker (default: IOB_KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)")
    parser.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    parser.add_argument("--max", type=int, default=None, help="stop after N records")
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        help="stop after this many seconds without a record",
    )
