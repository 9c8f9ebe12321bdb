"""The shell side of the local broker: ``python -m service.devkit.kafka_local start|stop|...``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from service.devkit.kafka_jdk import KafkaLaunchError
from service.devkit.kafka_local import REPO, LocalKafka, classpath, free_port_run
from service.devkit.kafka_security import BrokerSecurity

DESCRIPTION = "A real single-node Apache Kafka broker without Docker (shared/docs/kafka-local.md)."


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kafka_local", description=DESCRIPTION)
    parser.add_argument("command", choices=["start", "stop", "status", "run", "classpath"])
    parser.add_argument(
        "--port", type=int, default=9092, help="broker port; controller = +1 (0: any free)"
    )
    parser.add_argument("--home", type=Path, default=REPO / ".kafka" / "dev", help="state dir")
    parser.add_argument(
        "--keep-data", action="store_true", help="start without wiping the data dir"
    )
    parser.add_argument("--timeout", type=float, default=90.0, help="readiness timeout, seconds")
    parser.add_argument(
        "--secure", action="store_true", help="SASL_SSL client listener with a throwaway CA"
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME=PASSWORD",
        help="with --secure: a SASL user (repeatable; default io-bridge=io-bridge-secret)",
    )
    parser.epilog = "run: everything after the first -- is the command to run"
    # Split at "--" by hand: an argparse.REMAINDER positional after ``command`` would also swallow
    # the options that follow the command (``run --port 0 --home X -- pytest``).
    ours, cmd = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    args = parser.parse_args(ours)
    args.cmd = cmd
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        security = _security(args)
        home = args.home.resolve()
        # status/stop talk to the broker that runs from home, on the port it recorded.
        recorded = LocalKafka(home).running_port() if args.command in {"status", "stop"} else None
        port = recorded or args.port or free_port_run(3 if security else 2)
        broker = LocalKafka(home=home, port=port, security=security)
        return _dispatch(args, broker)
    except (KafkaLaunchError, ValueError) as exc:
        print(f"kafka_local: {exc}", file=sys.stderr)
        return 1


def _security(args: argparse.Namespace) -> BrokerSecurity | None:
    if not args.secure:
        if args.user:
            raise ValueError("--user needs --secure")
        return None
    if not args.user:
        return BrokerSecurity()
    pairs = [entry.partition("=") for entry in args.user]
    if any(not sep for _, sep, _ in pairs):
        raise ValueError("--user takes NAME=PASSWORD")
    return BrokerSecurity(users={name: pw for name, _, pw in pairs})


def _dispatch(args: argparse.Namespace, broker: LocalKafka) -> int:
    if args.command == "classpath":
        print(classpath(broker.home))
    elif args.command == "start":
        took = broker.start(fresh=not args.keep_data, timeout_s=args.timeout)
        where = f"pid {broker.pid()}, home {broker.home}"
        print(f"kafka ready on {broker.bootstrap} in {took:.1f}s ({where})")
        if broker.security:
            print(f"SASL_SSL; CA {broker.ca_file}; io-bridge settings in {broker.home}/client.env")
    elif args.command == "stop":
        print("stopped" if broker.stop() else "not running")
    elif args.command == "status":
        print(broker.status())
        return 0 if broker.pid() else 3
    else:
        return _run_with(broker, args.cmd, args.timeout)
    return 0


def _run_with(broker: LocalKafka, cmd: list[str], timeout_s: float) -> int:
    """Start a broker, run ``cmd`` with KAFKA_BOOTSTRAP_SERVERS set, always stop the broker."""
    if not cmd:
        raise KafkaLaunchError("run needs a command after --")
    took = broker.start(timeout_s=timeout_s)
    print(f"kafka ready on {broker.bootstrap} in {took:.1f}s", flush=True)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, **broker.client_env()}
    try:
        return subprocess.run(cmd, env=env, check=False).returncode
    finally:
        broker.stop()
