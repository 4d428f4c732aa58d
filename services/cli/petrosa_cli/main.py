"""The ``petrosa`` console script: one subcommand per service, plus ``dev``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from petrosa_core import __version__

SERVICES = ("ingestor", "auditor", "backfiller", "analytics", "api")

Handler = Callable[[argparse.Namespace], int | None]


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """Most commands take their configuration from the environment only."""


@dataclass(frozen=True)
class Command:
    """A subcommand: its help line, how to declare its arguments, and what it runs."""

    help: str
    handler: Handler
    configure: Callable[[argparse.ArgumentParser], None] = _no_arguments


def _service(name: str) -> Command:
    def run(args: argparse.Namespace) -> None:
        # Imported on use: a service pulls in its whole stack, which other commands skip.
        importlib.import_module(f"petrosa_{name}.app").main()

    help_line = f"run the {name} service (configured by environment variables; --help lists them)"
    return Command(help_line, run)


def _configure_dev(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-port",
        type=int,
        default=None,
        help="API port (default API_PORT, else 8000; 0 picks a free one; a busy one is refused)",
    )
    parser.add_argument(
        "--no-demo",
        action="store_true",
        help="do not start the demo feed that replays a recorded sample as live data",
    )


def _dev(args: argparse.Namespace) -> int:
    from petrosa_cli.dev import run_dev

    return asyncio.run(run_dev(api_port=args.api_port, demo=not args.no_demo))


def _backfill(argv: list[str]) -> int:
    from petrosa_backfiller.cli import backfill_command

    return backfill_command(argv)


def _audit(argv: list[str]) -> int:
    from petrosa_auditor.cli import audit_command

    return audit_command(argv)


def _migrate(argv: list[str]) -> int:
    from petrosa_cli.migrate import migrate_command

    return migrate_command(argv)


def _deadletters(argv: list[str]) -> int:
    from petrosa_ingestor.deadletters import deadletters_command

    return deadletters_command(argv)


# Commands that parse their own arguments: everything after the name is theirs.
PASSTHROUGH: dict[str, tuple[str, Callable[[list[str]], int]]] = {
    "backfill": ("submit a backfill job and follow it, or --list jobs", _backfill),
    "audit": ("run one audit of a dataset (or all) and print the report", _audit),
    "deadletters": ("list or replay the frames the ingestor could not store", _deadletters),
    "migrate": ("bring the SQL stores' schemas to the newest revision", _migrate),
}

COMMANDS: dict[str, Command] = {
    **{name: _service(name) for name in SERVICES},
    "dev": Command(
        "run the whole suite locally: nats-server, SQLite, every service, a demo feed",
        _dev,
        _configure_dev,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="petrosa", description="Petrosa Data Manager")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(handler=command.handler)
    for name, (help_line, _) in PASSTHROUGH.items():
        commands.add_parser(name, help=help_line, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Dispatch to the chosen subcommand and exit with its code."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in SERVICES:
        # A service reads its own arguments (``--help`` lists its variables) from sys.argv.
        sys.argv = [f"petrosa {words[0]}", *words[1:]]
        COMMANDS[words[0]].handler(argparse.Namespace())
    if words and words[0] in PASSTHROUGH:
        sys.exit(PASSTHROUGH[words[0]][1](words[1:]))
    args = build_parser().parse_args(words)
    handler: Handler = args.handler
    sys.exit(handler(args) or 0)
