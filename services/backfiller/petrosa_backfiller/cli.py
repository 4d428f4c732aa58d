"""``petrosa backfill``: submit a backfill over NATS and follow it, or list the jobs.

    petrosa backfill BTCUSDT --type candles --interval 1m --start 2024-01-01 --end 2024-02-01
    petrosa backfill --list [--status running]

Configuration comes from the environment like the services' (``NATS_URL``,
``METADATA_STORE_URL``, ``BACKFILL_*_SUBJECT``). Exit codes: 0 completed (or submitted with
``--no-follow``, or listed), 1 the job failed or was cancelled, 2 a bad request or setting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import nats.errors
from nats.aio.subscription import Subscription

from petrosa_backfiller.request import DataType
from petrosa_backfiller.settings import BackfillerSettings
from petrosa_core.bus import Bus, as_bus_error, connect
from petrosa_core.errors import BusError, ConfigError, StoreError
from petrosa_core.metadata import JobStatus, MetadataStore
from petrosa_core.settings import load_settings

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE = 0, 1, 2
FINAL = frozenset({"completed", "failed", "cancelled"})
BAR_WIDTH = 30
# Without an event for this long, ask for the job's state: an event may have been missed.
STATUS_POLL_SECONDS = 5.0
Job = dict[str, Any]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="petrosa backfill", description="Backfill missing data from Binance REST."
    )
    parser.add_argument("symbol", nargs="?", help="Binance symbol, e.g. BTCUSDT")
    parser.add_argument(
        "--type",
        dest="data_type",
        default=DataType.CANDLES.value,
        choices=[t.value for t in DataType],
        help="what to fetch",
    )
    parser.add_argument("--interval", help="candle interval (default 1m for candles)")
    parser.add_argument("--start", help="range start: epoch ms or ISO-8601 (UTC if no zone)")
    parser.add_argument("--end", help="range end, exclusive (default: now)")
    parser.add_argument("--no-follow", action="store_true", help="print the job id and return")
    parser.add_argument("--timeout", type=float, default=15.0, help="request timeout, seconds")
    parser.add_argument("--list", action="store_true", help="list backfill jobs, newest first")
    parser.add_argument("--status", choices=[s.value for s in JobStatus], help="list filter")
    parser.add_argument("--limit", type=int, default=20, help="how many jobs to list")
    return parser


def backfill_command(argv: list[str]) -> int:
    """Run ``petrosa backfill`` with ``argv`` (the words after ``backfill``); the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not args.list and (not args.symbol or not args.start):
        parser.print_usage(sys.stderr)
        sys.stderr.write("petrosa backfill: SYMBOL and --start are required (or --list)\n")
        return EXIT_USAGE
    try:
        settings = load_settings(BackfillerSettings)
    except ConfigError as exc:
        sys.stderr.write(f"petrosa backfill: {exc}\n")
        return EXIT_USAGE
    return asyncio.run(list_jobs(settings, args) if args.list else submit(settings, args))


def request_body(args: argparse.Namespace) -> dict[str, Any]:
    """The NATS request for the parsed arguments; numeric times are sent as epoch ms."""
    interval = args.interval or ("1m" if args.data_type == DataType.CANDLES.value else None)
    body: dict[str, Any] = {
        "symbol": args.symbol,
        "data_type": args.data_type,
        "start": _time_arg(args.start),
        "origin": "cli",
    }
    if interval is not None:
        body["interval"] = interval
    if args.end is not None:
        body["end"] = _time_arg(args.end)
    return body


def _time_arg(text: str) -> int | str:
    return int(text) if text.isdigit() else text


async def submit(settings: BackfillerSettings, args: argparse.Namespace) -> int:
    """Send the request, then follow the job's events to its end unless ``--no-follow``."""
    try:
        bus = await connect(
            settings.nats_url, name="petrosa-cli-backfill", security=settings, initial_timeout=5
        )
    except BusError as exc:
        sys.stderr.write(f"petrosa backfill: {exc}\n")
        return EXIT_USAGE
    try:
        return await _submit_and_follow(bus, settings, args)
    except BusError as exc:
        sys.stderr.write(f"\npetrosa backfill: {exc}\n")
        return EXIT_USAGE
    finally:
        await bus.close()


async def _submit_and_follow(
    bus: Bus, settings: BackfillerSettings, args: argparse.Namespace
) -> int:
    # Subscribed before asking, so no event of the new job can slip past.
    with as_bus_error("follow backfill events"):
        events = await bus.client.subscribe(settings.backfill_events_subject)
    reply = await _ask(bus, settings.backfill_request_subject, request_body(args), args.timeout)
    if "error" in reply:
        error = reply["error"]
        sys.stderr.write(f"petrosa backfill: {error['code']}: {error['message']}\n")
        return EXIT_USAGE
    note = " (an overlapping job was already queued)" if reply.get("deduplicated") else ""
    sys.stderr.write(f"job {reply['job_id']} {reply['status']}{note}\n")
    if args.no_follow:
        sys.stdout.write(f"{reply['job_id']}\n")
        return EXIT_OK
    final = await follow(bus, events, settings, reply, args.timeout)
    return EXIT_OK if final["status"] == JobStatus.COMPLETED.value else EXIT_JOB_FAILED


async def _ask(bus: Bus, subject: str, body: dict[str, Any], wait: float) -> dict[str, Any]:
    with as_bus_error(f"request on {subject}"):
        msg = await bus.client.request(subject, json.dumps(body).encode(), timeout=wait)
    reply: dict[str, Any] = json.loads(msg.data)
    return reply


async def follow(
    bus: Bus, events: Subscription, settings: BackfillerSettings, job: Job, wait: float
) -> Job:
    """Draw the job's progress on stderr from its events until it ends; the final state."""
    draw_progress(job, sys.stderr)
    while job["status"] not in FINAL:
        try:
            msg = await events.next_msg(timeout=STATUS_POLL_SECONDS)
        except nats.errors.TimeoutError:
            fresh = await _ask(
                bus, settings.backfill_status_subject, {"job_id": job["job_id"]}, wait
            )
            job = job if "error" in fresh else fresh
        else:
            event = json.loads(msg.data)
            if event.get("job_id") != job["job_id"]:
                continue
            job = event
        draw_progress(job, sys.stderr)
    sys.stderr.write("\n")
    summary = f"job {job['job_id']} {job['status']}: {job['records_written']} records"
    if job.get("error_code"):
        summary += f" ({job['error_code']}: {job['error_message']})"
    sys.stdout.write(summary + "\n")
    return job


def draw_progress(job: Job, out: TextIO) -> None:
    """One redrawn line: dataset, bar, percent, records, pages, weight and status."""
    filled = int(BAR_WIDTH * job["progress"] / 100)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    out.write(
        f"\r{job['dataset_id']} [{bar}] {job['progress']:6.2f}%  {job['records_written']} records"
        f"  {job['pages']} pages  weight {job['weight_used']}  {job['status']:<9}"
    )
    out.flush()


async def list_jobs(settings: BackfillerSettings, args: argparse.Namespace) -> int:
    """Print the newest jobs as a table, read from the metadata store."""
    try:
        store = await MetadataStore.open(settings.metadata_store_url, migrate=False)
    except StoreError as exc:
        sys.stderr.write(f"petrosa backfill: {exc}\n")
        return EXIT_JOB_FAILED
    try:
        status = JobStatus(args.status) if args.status else None
        jobs = await store.list_jobs(status=status, limit=args.limit)
    finally:
        await store.close()
    rows = [["JOB", "STATUS", "DATASET", "START", "END", "PROGRESS", "RECORDS", "ERROR"]]
    for job in jobs:
        error = f"{job.error_code}: {job.error_message}" if job.error_code else ""
        rows.append(
            [
                job.id,
                job.status.value,
                job.dataset_id,
                _iso(job.range_start),
                _iso(job.range_end),
                f"{job.progress:.1f}%",
                str(job.records_written),
                error,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        sys.stdout.write("\n")
    return EXIT_OK


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    """``python -m petrosa_backfiller.cli ...``, until the console script dispatches here."""
    sys.exit(backfill_command(sys.argv[1:]))


if __name__ == "__main__":
    main()
