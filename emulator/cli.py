"""``io-bridge emulator``: serve the emulator over HTTP with uvicorn.

Every knob is a flag and an ``IOE_<KNOB>`` variable; flags win. The effective config (secrets
masked) is printed at start.
"""

from __future__ import annotations

import argparse
import os

from emulator.config import EmulatorConfig

# flag → (knob, type, help)
_KNOBS: list[tuple[str, str, type, str]] = [
    ("--client-id", "client_id", str, "OAuth client id [io-bridge-local]"),
    ("--client-secret", "client_secret", str, "OAuth client secret [io-bridge-local-secret]"),
    ("--admin-key", "admin_key", str, "x-admin-key for /_emulator/ (default: open)"),
    ("--token-lifetime", "token_lifetime_seconds", float, "token lifetime, seconds [3600]"),
    ("--presign-ttl", "presign_ttl_seconds", float, "presigned URL validity, seconds [3600]"),
    ("--job-seconds", "job_seconds", float, "fixed job duration, seconds [1]"),
    (
        "--job-seconds-per-dataset",
        "job_seconds_per_dataset",
        float,
        "extra seconds per dataset [0]",
    ),
    ("--latency", "latency_seconds", float, "added latency per API call, seconds [0]"),
    ("--rate-429", "rate_429", float, "probability of a 429 per call [0]"),
    ("--retry-after", "retry_after_seconds", float, "Retry-After of injected 429s [1]"),
    ("--rate-limit", "rate_limit_per_second", float, "max API calls per second, 0 = off [0]"),
    ("--rate-5xx", "rate_5xx", float, "probability of a 500 per call [0]"),
    ("--not-visible", "not_visible_seconds", float, "404 on /status for jobs this young [0]"),
    ("--fail-datasets", "fail_datasets", str, "comma-separated ids/globs that always fail"),
    ("--hang-datasets", "hang_datasets", str, "comma-separated ids/globs whose jobs never end"),
    ("--seed", "seed", int, "seed of fault randomness and job ids [0]"),
    ("--today", "today", str, "pin today's date, YYYY-MM-DD (default: the UTC date)"),
    ("--min-history", "min_history_periods", int, "complete periods needed to train [8]"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's flags to ``parser`` (``io-bridge emulator``)."""
    env = os.environ
    parser.add_argument("--host", default=env.get("IOE_HOST", "127.0.0.1"), help="bind address")
    parser.add_argument("--port", type=int, default=int(env.get("IOE_PORT", "8080")), help="port")
    parser.add_argument(
        "--log-level", default=env.get("IOE_LOG_LEVEL", "info"), help="uvicorn log level"
    )
    for flag, knob, kind, text in _KNOBS:
        parser.add_argument(
            flag, dest=f"knob_{knob}", metavar=knob.upper(), type=kind, default=None, help=text
        )


def config_from(args: argparse.Namespace) -> EmulatorConfig:
    """``IOE_*`` variables, overridden by the flags given."""
    flags = {knob: getattr(args, f"knob_{knob}", None) for _, knob, _, _ in _KNOBS}
    return EmulatorConfig.from_env(os.environ, **flags)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 2 on a bad configuration."""
    try:
        config = config_from(args)
    except ValueError as exc:
        print(f"io-bridge emulator: {exc}")
        return 2
    import uvicorn  # noqa: PLC0415 - only when serving

    from emulator.app import create_app  # noqa: PLC0415

    base = f"http://{args.host}:{args.port}"
    print(f"IO API emulator on {base}/io  (token: {base}/connect/token, admin: {base}/_emulator/)")
    for name, value in config.public().items():
        print(f"  {name} = {value}")
    # No access log: presigned PUT URLs carry their signature in the query string.
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
    )
    return 0
