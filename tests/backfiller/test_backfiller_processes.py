"""The backfiller as real processes: killed mid-job and restarted, two replicas sharing
requests, each range fetched from the exchange once, and a hostile request that leaves the
process connected and working."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from petrosa_core.market import open_market_store
from petrosa_core.metadata import JobStatus, MetadataStore
from tests.backfiller.test_jobs_support import (
    DAY_MS,
    MINUTE_MS,
    PAGE_MS,
    Backfill,
    candles_request,
    generated_candles,
    slow_pages,
    starts,
    stored,
    wait_for_job,
    wait_ready,
    wait_until,
)
from tests.fakes.binance_data import listing_time
from tests.fakes.binance_exchange import FakeBinance
from tests.harness.servers import free_port

# Short enough that a killed worker's job is taken over within a test's patience.
PROCESS_ENV = {"BACKFILL_JOB_LEASE_SECONDS": "2", "BACKFILL_POLL_INTERVAL": "0.2"}


@pytest.fixture
def fake(shared_data: Path) -> Iterator[FakeBinance]:
    with FakeBinance(data_dir=shared_data, slow_delay=0.25) as exchange:
        yield exchange


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def start_process(
    backfill: Backfill, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = backfill.spawn(port, tmp_path / f"backfiller-{len(processes)}.log", **PROCESS_ENV)
    processes.append(proc)
    await wait_ready(port)
    return proc, port


async def requests_answered(port: int) -> dict[str, float]:
    """The process's ``data_manager_backfill_requests_total`` by outcome."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "data_manager_backfill_requests_total":
                found[sample.labels["outcome"]] = sample.value
    return found


async def test_sigkill_mid_job_then_restart_resumes_from_the_checkpoint(
    backfill: Backfill,
    fake: FakeBinance,
    sqlite_url: str,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    symbol, pages = "KILLUSDT", 16
    start = listing_time(symbol) + DAY_MS
    slow_pages(fake, 40)
    bus = await backfill.bus()
    metadata = await MetadataStore.open(backfill.metadata_url)
    market = await open_market_store(sqlite_url)
    try:
        first, _ = await start_process(backfill, tmp_path, processes)
        reply = await backfill.ask(bus, "request", candles_request(symbol, start, pages))

        async def four_pages_done() -> bool:
            job = await metadata.get_job(reply["job_id"])
            return job is not None and job.pages >= 4

        await wait_until(four_pages_done)
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        at_kill = await metadata.get_job(reply["job_id"])
        await start_process(backfill, tmp_path, processes)
        done = await wait_for_job(metadata, reply["job_id"], timeout=90)
        candles = await stored(market, f"candles:{symbol}:1m")
    finally:
        await market.close()
        await metadata.close()
        await bus.close()

    assert at_kill is not None and at_kill.status is JobStatus.RUNNING
    assert (done.status, done.attempts, done.records_written, done.pages) == (
        JobStatus.COMPLETED,
        2,
        pages * 1000,
        pages,
    )
    assert candles == generated_candles(symbol, start, pages * 1000)
    fetched = starts(fake.stats())
    assert sorted(set(fetched)) == [start + i * PAGE_MS for i in range(pages)]
    assert at_kill.checkpoint is not None
    before_checkpoint = [t for t in fetched if t < at_kill.checkpoint]
    assert before_checkpoint == [start + i * PAGE_MS for i in range(at_kill.pages)]
    assert len(fetched) - len(set(fetched)) <= 1  # only the page in flight at the kill


async def test_two_processes_and_ten_overlapping_requests_fetch_each_range_once(
    backfill: Backfill,
    fake: FakeBinance,
    sqlite_url: str,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    symbol, pages = "TWINUSDT", 8
    start = listing_time(symbol) + DAY_MS
    slow_pages(fake, 20)
    bus = await backfill.bus()
    metadata = await MetadataStore.open(backfill.metadata_url)
    market = await open_market_store(sqlite_url)
    try:
        started = await asyncio.gather(
            *(start_process(backfill, tmp_path, processes) for _ in range(2))
        )
        replies = await asyncio.gather(
            *(
                backfill.ask(
                    bus,
                    "request",
                    {
                        "symbol": symbol,
                        "data_type": "candles",
                        "interval": "1m",
                        "start": start + i * MINUTE_MS,
                        "end": start + pages * PAGE_MS - i * MINUTE_MS,
                    },
                )
                for i in range(10)
            )
        )
        job_ids = {job_id for reply in replies for job_id in reply["job_ids"]}
        jobs = [await wait_for_job(metadata, job_id, timeout=90) for job_id in job_ids]
        candles = await stored(market, f"candles:{symbol}:1m")
        answered = [await requests_answered(port) for _, port in started]
    finally:
        await market.close()
        await metadata.close()
        await bus.close()

    # Which replica saw which request first decides how many jobs there are, not what is fetched.
    assert sum(a.get("created", 0) + a.get("deduplicated", 0) for a in answered) == 10
    assert {j.status for j in jobs} == {JobStatus.COMPLETED}
    ranges = sorted((j.range_start, j.range_end) for j in jobs)
    assert [r[0] for r in ranges] == [start] + [r[1] for r in ranges[:-1]]
    assert ranges[-1][1] == start + pages * PAGE_MS
    fetched = starts(fake.stats())
    assert len(fetched) == len(set(fetched)) == sum(j.pages for j in jobs)
    assert candles == generated_candles(symbol, start, pages * 1000)


async def test_a_4000_character_symbol_is_refused_and_the_process_stays_connected(
    backfill: Backfill,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    symbol = "LONGUSDT"
    start = listing_time(symbol) + DAY_MS
    bus = await backfill.bus()
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        proc, port = await start_process(backfill, tmp_path, processes)
        refused = await backfill.ask(
            bus,
            "request",
            {"symbol": "A" * 4000, "data_type": "candles", "interval": "1m", "start": start},
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            probes = [
                (await client.get(f"/health/{p}")).status_code for p in ("liveness", "readiness")
            ]
        reply = await backfill.ask(bus, "request", candles_request(symbol, start, 1))
        done = await wait_for_job(metadata, reply["job_id"])
    finally:
        await metadata.close()
        await bus.close()

    assert refused["error"]["code"] == "bad_symbol"
    assert (probes, proc.poll()) == ([200, 200], None)
    assert (done.status, done.records_written) == (JobStatus.COMPLETED, 1000)
