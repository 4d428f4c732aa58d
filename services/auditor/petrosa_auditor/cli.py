"""``petrosa audit [DATASET] [--full]``: one local audit, printed; no NATS, no leader.

Stores come from the same settings as the service. Nothing is written unless
``--record`` asks for findings and health to be stored (and duplicates removed when
``ENABLE_DUPLICATE_REMOVAL`` is set), as the service would.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import msgspec

from petrosa_auditor.app import build_auditor
from petrosa_auditor.audit import Auditor, intervals_of
from petrosa_auditor.context import Scope
from petrosa_auditor.recorder import Recorder, Run
from petrosa_auditor.report import DatasetReport, render
from petrosa_auditor.settings import AuditorSettings
from petrosa_core import __version__
from petrosa_core.errors import ConfigError, PetrosaError, StoreUnavailable, ValidationError
from petrosa_core.market import open_duplicate_scanner, open_market_store
from petrosa_core.metadata import MetadataStore
from petrosa_core.models import DatasetId
from petrosa_core.settings import load_settings
from petrosa_core.times import parse_time
from petrosa_core.wiring import describe, open_store

EXIT_FAILURE = 1
EXIT_USAGE = 2


def epoch_ms(text: str) -> int:
    """Epoch milliseconds or ISO-8601 (UTC unless it names an offset), read as the services do."""
    try:
        return parse_time(text, "time")
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``petrosa audit`` on ``parser``."""
    parser.add_argument("dataset", nargs="?", help="e.g. candles:BTCUSDT:1m (default: all)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--full", action="store_true", help="audit the whole history")
    what.add_argument("--window", type=float, help="audit the last SECONDS (default AUDIT_WINDOW)")
    parser.add_argument("--start", type=epoch_ms, help="range start, epoch ms or ISO-8601")
    parser.add_argument("--end", type=epoch_ms, help="range end (exclusive)")
    parser.add_argument("--limit", type=int, default=50, help="findings shown per check")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    parser.add_argument(
        "--record", action="store_true", help="store findings and health as the service does"
    )


def scope_of(args: argparse.Namespace, settings: AuditorSettings) -> Scope:
    if args.full:
        return Scope.full()
    if args.start is not None or args.end is not None:
        return Scope.between(args.start, args.end)
    return Scope.last(args.window or settings.audit_window)


async def run_audit(args: argparse.Namespace, settings: AuditorSettings) -> list[DatasetReport]:
    """Open the stores, audit what ``args`` names, record if asked, close everything."""
    dataset = DatasetId.parse(args.dataset) if args.dataset else None
    url, variable = settings.market_store_url, settings.url_variable("market")
    market = await open_store(variable, url, open_market_store)
    legacy = open_duplicate_scanner(settings.market_store_url)
    try:
        auditor = build_auditor(settings, market, legacy)
        if not args.record:
            auditor.removal = None  # a look, not a change
        try:
            reports = await _audit(auditor, dataset, scope_of(args, settings))
        except StoreUnavailable as exc:  # MongoDB connects lazily: it fails here, not above
            reason = str(exc).splitlines()[0]
            raise StoreUnavailable(f"cannot reach {describe(url)} ({variable}): {reason}") from exc
        if args.record:
            await _record(settings, reports)
        return reports
    finally:
        if legacy is not None:
            await legacy.close()
        await market.close()


async def _audit(auditor: Auditor, dataset: DatasetId | None, scope: Scope) -> list[DatasetReport]:
    known = await auditor.datasets()
    if dataset is not None and dataset not in known:
        raise ValidationError("unknown_dataset", f"{dataset} holds no records")
    chosen = [dataset] if dataset is not None else known
    return [await auditor.audit(d, scope, intervals_of(known, d.symbol)) for d in chosen]


async def _record(settings: AuditorSettings, reports: list[DatasetReport]) -> None:
    variable, url = settings.url_variable("metadata"), settings.metadata_store_url
    metadata = await open_store(variable, url, MetadataStore.open)
    try:
        recorder = Recorder(metadata)
        for report in reports:
            await recorder.record(report, Run(None))
    finally:
        await metadata.close()


def audit_from_args(args: argparse.Namespace) -> int:
    """Run the audit ``args`` describe and print it; 0 done, 1 failed, 2 bad usage."""
    try:
        settings = load_settings(AuditorSettings)
        reports = asyncio.run(run_audit(args, settings))
    except (ConfigError, ValidationError) as exc:
        sys.stderr.write(f"petrosa audit: {exc}\n")
        return EXIT_USAGE
    except PetrosaError as exc:
        sys.stderr.write(f"petrosa audit: failed: {exc}\n")
        return EXIT_FAILURE
    if args.json:
        sys.stdout.write(msgspec.json.encode([r.to_json() for r in reports]).decode() + "\n")
    else:
        text = "\n\n".join(render(r, args.limit) for r in reports)
        sys.stdout.write((text or "no datasets hold records") + "\n")
    return 0


def audit_command(argv: Sequence[str]) -> int:
    """``petrosa audit`` as a function of its arguments, for the console script."""
    parser = argparse.ArgumentParser(prog="petrosa audit", description=__doc__)
    add_audit_arguments(parser)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return audit_from_args(parser.parse_args(list(argv)))
