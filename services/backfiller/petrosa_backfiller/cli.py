"""``petrosa backfill``: submit a backfill over NATS and follow it, or list the jobs.

    petrosa backfill BTCUSDT --type candles --interval 1m --start 2024-01-01 --end 2024-02-01
    petrosa backfill --list [--status running]

Configuration comes from the environment like the services' (``NATS_URL``,
``METADATA_STORE_URL``, ``BACKFILL_*_SUBJECT``). A range partly covered by active jobs is
covered by several jobs; all are followed. Exit codes: 0 every job completed (or submitted
with ``--no-follow``, or listed), 1 a job failed or was cancelled, or the backfiller could
not take the request (a store outage), 2 a bad request or setting.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from petrosa_backfiller.progress import Progress
from petrosa_backfiller.settings import BackfillerSettings
from petrosa_core import __version__
from petrosa_core.bus import Bus, Subscription, connect
from petrosa_core.contracts import (
    BackfillEvent,
    BackfillReply,
    BackfillRequest,
    DataType,
    ErrorReply,
    JobRef,
    JobView,
    decode_reply,
)
from petrosa_core.errors import (
    BusError,
    BusTimeout,
    ConfigError,
    NoResponders,
    ParseError,
    StoreError,
    ValidationError,
)
from petrosa_core.metadata import JobStatus, MetadataStore
from petrosa_core.runtime import without_credentials
from petrosa_core.settings import load_settings
from petrosa_core.times import parse_time

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE = 0, 1, 2
# Without an event for this long, ask for the job's state: an event may have been missed.
STATUS_POLL_SECONDS = 5.0


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
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def nats_named(settings: BackfillerSettings) -> str:
    """The NATS server(s) the command talks to, without credentials, for its messages."""
    return "NATS at " + ",".join(without_credentials(url) for url in settings.nats_servers)


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


def backfill_request(args: argparse.Namespace) -> BackfillRequest:
    """The request for the parsed arguments; times are read here, as the services read them."""
    data_type = DataType(args.data_type)
    interval = args.interval or ("1m" if data_type is DataType.CANDLES else None)
    return BackfillRequest(
        symbol=args.symbol,
        data_type=data_type,
        start=parse_time(args.start, "--start"),
        end=None if args.end is None else parse_time(args.end, "--end"),
        interval=interval,
        origin="cli",
    )


async def submit(settings: BackfillerSettings, args: argparse.Namespace) -> int:
    """Send the request, then follow its jobs' events to their end unless ``--no-follow``."""
    try:
        request = backfill_request(args)
    except ValidationError as exc:
        sys.stderr.write(f"petrosa backfill: {exc.reason}: {exc.detail}\n")
        return EXIT_USAGE
    try:
        bus = await connect(
            settings.nats_url, name="petrosa-cli-backfill", security=settings, initial_timeout=5
        )
    except BusError as exc:
        sys.stderr.write(f"petrosa backfill: {exc}\n")
        return EXIT_USAGE
    try:
        return await _submit_and_follow(bus, settings, args, request)
    except NoResponders:
        sys.stderr.write(
            f"petrosa backfill: no backfiller listens on {settings.backfill_request_subject} "
            f"at {nats_named(settings)}; start one (petrosa backfiller) or check NATS_URL\n"
        )
        return EXIT_USAGE
    except (BusError, ParseError) as exc:
        sys.stderr.write(f"\npetrosa backfill: {exc} ({nats_named(settings)})\n")
        return EXIT_USAGE
    finally:
        await bus.close()


async def _submit_and_follow(
    bus: Bus, settings: BackfillerSettings, args: argparse.Namespace, request: BackfillRequest
) -> int:
    # Subscribed before asking, so no event of a new job can slip past.
    events = await bus.subscribe(settings.backfill_events_subject)
    try:
        raw = await bus.request(
            settings.backfill_request_subject, request.encode(), within=args.timeout
        )
    except BusTimeout:
        raise BusTimeout(
            f"no backfiller answered on {settings.backfill_request_subject} within "
            f"{args.timeout:g} s"
        ) from None
    reply = decode_reply(raw, BackfillReply.decode)
    if isinstance(reply, ErrorReply):
        sys.stderr.write(f"petrosa backfill: {reply.code}: {reply.message}\n")
        return EXIT_USAGE if reply.caller_fault else EXIT_JOB_FAILED
    job_ids = reply.covering_job_ids
    note = " (an overlapping job was already queued)" if reply.deduplicated else ""
    sys.stderr.write(f"job {reply.job_id} {reply.status}{note}\n")
    if len(job_ids) > 1:
        sys.stderr.write(f"{len(job_ids)} jobs cover the range: {', '.join(job_ids)}\n")
    if args.no_follow:
        sys.stdout.write("".join(f"{job_id}\n" for job_id in job_ids))
        return EXIT_OK
    finals = await follow(bus, events, settings, reply, args.timeout)
    completed = all(job.status == JobStatus.COMPLETED.value for job in finals)
    return EXIT_OK if completed else EXIT_JOB_FAILED


async def follow(
    bus: Bus,
    events: Subscription,
    settings: BackfillerSettings,
    reply: BackfillReply,
    wait: float,
) -> list[JobView]:
    """Draw progress on stderr from the jobs' events until every job ended; their final states.

    While a job gives no news (it waits for a retry, or for its lease to pass to another
    backfiller), the line says for how long.
    """
    progress = Progress(sys.stderr)
    jobs: dict[str, JobView | None] = dict.fromkeys(reply.covering_job_ids)
    jobs[reply.job_id] = reply.job
    if reply.job is not None:
        progress.show(reply.job)
    while waiting := [job_id for job_id, job in jobs.items() if job is None or not job.is_final]:
        try:
            msg = await events.next(within=STATUS_POLL_SECONDS)
        except BusTimeout:
            # An event may have been missed: ask for the state of each job still running.
            for job_id in waiting:
                jobs[job_id] = await _status(bus, settings, job_id, wait) or jobs[job_id]
                if (job := jobs[job_id]) is not None:
                    progress.show(job)
            continue
        try:
            event: JobView = BackfillEvent.decode(msg.data)
        except ParseError:
            continue
        if event.job_id in jobs:
            jobs[event.job_id] = event
            progress.show(event)
    progress.end()
    finals = [job for job in jobs.values() if job is not None]
    for job in finals:
        summary = f"job {job.job_id} {job.status}: {job.records_written} records"
        if job.error_code:
            summary += f" ({job.error_code}: {job.error_message})"
        sys.stdout.write(summary + "\n")
    return finals


async def _status(
    bus: Bus, settings: BackfillerSettings, job_id: str, wait: float
) -> JobView | None:
    raw = await bus.request(settings.backfill_status_subject, JobRef(job_id).encode(), within=wait)
    job = decode_reply(raw, JobView.decode)
    return None if isinstance(job, ErrorReply) else job


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
