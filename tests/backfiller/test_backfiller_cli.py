"""``petrosa backfill`` as a user runs it: submit, watch the bar fill, list the jobs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from petrosa_backfiller import progress
from petrosa_backfiller.cli import backfill_command
from petrosa_core.metadata import MetadataStore
from petrosa_core.models import DatasetId
from tests.backfiller.test_jobs_support import DAY_MS, HOUR_MS, Backfill
from tests.fakes.binance_data import listing_time, recorded_candles
from tests.fakes.binance_exchange import FakeBinance

XRP_5M = "xrpusdt_perp_5m_klines.csv"


@pytest.fixture
def fake(shared_data: Path) -> Iterator[FakeBinance]:
    with FakeBinance(data_dir=shared_data, unknown_symbols={"NOPEUSDT"}) as exchange:
        yield exchange


@pytest.fixture
def backfill(backfill: Backfill, monkeypatch: pytest.MonkeyPatch) -> Backfill:
    """The shared backfiller configuration; the CLI reads the same settings from the environment."""
    for name, value in backfill.env().items():
        monkeypatch.setenv(name, value)
    return backfill


async def petrosa_backfill(*argv: str) -> int:
    """The command in a thread of its own: it runs its own event loop, as from a shell."""
    return await asyncio.to_thread(backfill_command, list(argv))


async def test_submit_follows_the_job_to_completion_and_list_shows_it(
    backfill: Backfill, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candles = recorded_candles(shared_data / XRP_5M, "XRPUSDT", "5m")
    start, end = candles[0].open_time, candles[-1].open_time + 300_000
    async with backfill.running():
        code = await petrosa_backfill(
            "XRPUSDT",
            "--type",
            "candles",
            "--interval",
            "5m",
            "--start",
            str(start),
            "--end",
            str(end),
        )
        submitted = capsys.readouterr()
        listed_code = await petrosa_backfill("--list")
        listed = capsys.readouterr()

    job_id = submitted.out.split()[1]
    assert code == 0
    assert submitted.out == f"job {job_id} completed: 1999 records\n"
    assert submitted.err.startswith(f"job {job_id} pending\n")
    assert (
        f"\ncandles:XRPUSDT:5m [{'#' * 30}] 100.00%  1999 records  2 pages  weight 10  completed\n"
    ) in submitted.err
    assert "\r" not in submitted.err  # stderr is no terminal here: lines, not redrawn frames
    assert listed_code == 0
    header, row = listed.out.splitlines()
    assert header.split() == [
        "JOB",
        "STATUS",
        "DATASET",
        "START",
        "END",
        "PROGRESS",
        "RECORDS",
        "ERROR",
    ]
    assert row.split() == [
        job_id,
        "completed",
        "candles:XRPUSDT:5m",
        "2021-11-15T00:00:00Z",
        "2021-11-21T22:35:00Z",
        "100.0%",
        "1999",
    ]


async def test_a_bad_request_exits_2_with_the_services_reason(
    backfill: Backfill, capsys: pytest.CaptureFixture[str]
) -> None:
    async with backfill.running():
        code = await petrosa_backfill("BTCUSDT", "--interval", "7m", "--start", "2024-01-01")

    assert code == 2
    assert capsys.readouterr().err.startswith("petrosa backfill: unknown_interval: '7m' is not")


async def test_a_failed_job_exits_1_with_binances_reason(
    backfill: Backfill, capsys: pytest.CaptureFixture[str]
) -> None:
    async with backfill.running():
        code = await petrosa_backfill(
            "NOPEUSDT",
            "--type",
            "funding_rates",
            "--start",
            "2024-01-01T00:00:00",
            "--end",
            "2024-01-02",
        )

    assert code == 1
    assert capsys.readouterr().out.endswith("failed: 0 records (-1121: Invalid symbol.)\n")


def test_symbol_and_start_are_required_unless_listing(capsys: pytest.CaptureFixture[str]) -> None:
    assert backfill_command(["BTCUSDT"]) == 2
    assert "SYMBOL and --start are required" in capsys.readouterr().err


async def test_a_range_partly_covered_by_another_job_follows_every_job_to_its_end(
    backfill: Backfill, capsys: pytest.CaptureFixture[str]
) -> None:
    symbol = "SPLITUSDT"
    start = listing_time(symbol) + DAY_MS
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        # Another replica holds the middle hour; it dies and this backfiller takes the job over.
        held = await metadata.create_job(
            DatasetId.parse(f"candles:{symbol}:1m"),
            data_type="candles",
            start=start + HOUR_MS,
            end=start + 2 * HOUR_MS,
        )
        assert await metadata.claim_job(held.id, "dying-replica", lease_seconds=2)
        async with backfill.running():
            code = await petrosa_backfill(
                symbol, "--start", str(start), "--end", str(start + 3 * HOUR_MS)
            )
        jobs = {job.id: job for job in await metadata.list_jobs(symbol=symbol)}
    finally:
        await metadata.close()

    printed = capsys.readouterr()
    followed = [line.split()[1] for line in printed.out.splitlines()]
    assert code == 0
    assert len(followed) == len(jobs) == 3 and held.id in followed
    assert printed.out.splitlines() == [f"job {j} completed: 60 records" for j in followed]
    assert f"3 jobs cover the range: {', '.join(followed)}\n" in printed.err
    assert [(jobs[i].range_start - start) // HOUR_MS for i in followed] == [0, 1, 2]


async def test_with_no_backfiller_running_it_names_the_nats_server_it_asked(
    backfill: Backfill, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await petrosa_backfill("XRPUSDT", "--start", "2024-01-01", "--end", "2024-01-02")

    assert code == 2
    assert capsys.readouterr().err == (
        f"petrosa backfill: no backfiller listens on {backfill.subjects['request']} at NATS at "
        f"{backfill.nats_url}; start one (petrosa backfiller) or check NATS_URL\n"
    )


async def test_a_job_waiting_for_its_retry_shows_the_wait_then_the_new_attempt(
    backfill: Backfill, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "QUIET_LINE_SECONDS", 3.0)
    symbol = "SPLITUSDT"
    start = listing_time(symbol) + DAY_MS
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        # A replica claimed the job and died; once its lease ends this backfiller retries it.
        held = await metadata.create_job(
            DatasetId.parse(f"candles:{symbol}:1m"), data_type="candles", start=start,
            end=start + HOUR_MS,
        )  # fmt: skip
        assert await metadata.claim_job(held.id, "dying-replica", lease_seconds=8)
        async with backfill.running():
            code = await petrosa_backfill(
                symbol, "--start", str(start), "--end", str(start + HOUR_MS)
            )
    finally:
        await metadata.close()

    lines = capsys.readouterr().err.splitlines()
    assert code == 0
    assert any(re.search(r"  running  no progress for [4-9] s$", line) for line in lines)
    assert lines[-1].endswith("60 records  1 pages  weight 1  completed  attempt 2")
    assert not any("\r" in line for line in lines)
