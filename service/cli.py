"""The ``io-bridge`` command line: one sub-command per job, each importing its code lazily."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def _cmd_run(args: argparse.Namespace) -> int:
    from service.bootstrap import run_service  # noqa: PLC0415 - keep `--help` fast

    return run_service()


def _cmd_config(args: argparse.Namespace) -> int:
    from service.config import Settings  # noqa: PLC0415

    for name, value in sorted(Settings().model_dump().items()):
        print(f"IOB_{name.upper()}={value}")
    return 0


def _cmd_emulator(args: argparse.Namespace) -> int:
    from emulator.cli import run  # noqa: PLC0415 - needs the `emulator` extra

    return run(args)


def _add_emulator(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("emulator", help="serve the IO API emulator over HTTP")
    try:
        from emulator.cli import add_arguments  # noqa: PLC0415
    except ImportError:  # the extra is not installed: the command explains itself when run
        return
    add_arguments(parser)
    parser.set_defaults(handler=_cmd_emulator)


def _demo_extra_missing(exc: ModuleNotFoundError) -> int:
    print(
        f"io-bridge: {exc.name} is not installed; it comes with the `demo` extra:"
        " pip install -e '.[emulator,demo]' (make demo installs it)",
        file=sys.stderr,
    )
    return 2


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        from service.devkit.demo import run  # noqa: PLC0415 - needs the `demo` extra
    except ModuleNotFoundError as exc:
        return _demo_extra_missing(exc)
    return run(args)


def _cmd_replay(args: argparse.Namespace) -> int:
    from service.devkit.replay import run  # noqa: PLC0415

    return run(args)


def _cmd_tail(args: argparse.Namespace) -> int:
    try:
        from service.devkit.tail import run  # noqa: PLC0415 - needs rich (the `demo` extra)
    except ModuleNotFoundError as exc:
        return _demo_extra_missing(exc)
    return run(args)


def _add_devkit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from service.devkit import demo_cli  # noqa: PLC0415 - argparse only

    commands = (
        ("demo", "run the whole path locally: broker, emulator, service, sample data, plots"),
        ("replay", "produce a CSV/JSONL export of sales transactions as sales-updated events"),
        ("tail", "print a topic's records (headers and JSON) as they arrive"),
    )
    adders = (
        demo_cli.add_demo_arguments,
        demo_cli.add_replay_arguments,
        demo_cli.add_tail_arguments,
    )
    for (name, text), add, handler in zip(
        commands, adders, (_cmd_demo, _cmd_replay, _cmd_tail), strict=True
    ):
        parser = sub.add_parser(name, help=text, description=text)
        add(parser)
        parser.set_defaults(handler=handler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="io-bridge",
        description="Bridge ERP sales-updated events on Kafka to the Inventory Optimization API.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the service (configured by IOB_* variables)").set_defaults(
        handler=_cmd_run
    )
    sub.add_parser(
        "config", help="print the effective configuration (secrets masked)"
    ).set_defaults(handler=_cmd_config)
    _add_emulator(sub)
    _add_devkit(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
