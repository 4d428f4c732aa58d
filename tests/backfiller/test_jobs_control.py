"""Controlling backfill jobs: bad requests, overlapping requests, cancels, the job limit,
and resuming a job from its checkpoint after its worker died or stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from petrosa_core.market import open_market_store
from petrosa_core.metadata import JobStatus, MetadataStore
from petrosa_core.models import DatasetId
from tests.backfiller.test_jobs_support import (
    AGG_TRADES,
    DAY_MS,
    HOUR_MS,
    KLINES,
    MINUTE_MS,
    PAGE_MS,
    Backfill,
    candles_request,
    delivered,
    generated_candles,
    generated_trades,
    now_ms,
    slow_pages,
    starts,
    stored,
    wait_for_job,
    wait_until,
)
from tests.fakes.binance_data import listing_time
from tests.fakes.binance_exchange import FakeBinance

SLOW = 0.2


@pytest.fixture
def fake(shared_data: Path) -> Iterator[FakeBinance]:
    with FakeBinance(data_dir=shared_data, slow_delay=SLOW) as exchange:
        yield exchange


def start_of(symbol: str) -> int:
    return listing_time(symbol) + DAY_MS


INVALID: dict[str, Any] = {
    "unknown_data_type": {
        "symbol": "BTCUSDT",
        "data_type": "klines",
        "interval": "1m",
        "start": 0,
        "end": HOUR_MS,
    },
    "bad_range": {
        "symbol": "BTCUSDT",
        "data_type": "candles",
        "interval": "1m",
        "start": 2 * HOUR_MS,
        "end": HOUR_MS,
    },
    "unknown_interval": {
        "symbol": "BTCUSDT",
        "data_type": "candles",
        "interval": "7m",
        "start": 0,
        "end": HOUR_MS,
    },
    "missing_symbol": {"data_type": "candles", "interval": "1m", "start": 0, "end": HOUR_MS},
    "missing_interval": {"symbol": "BTCUSDT", "data_type": "candles", "start": 0, "end": HOUR_MS},
    "unexpected_interval": {
        "symbol": "BTCUSDT",
        "data_type": "funding_rates",
        "interval": "1m",
        "start": 0,
        "end": HOUR_MS,
    },
    "bad_time": {
        "symbol": "BTCUSDT",
        "data_type": "candles",
        "interval": "1m",
        "start": "yesterday",
        "end": HOUR_MS,
    },
    "bad_symbol": {"symbol": "BTC/USDT", "data_type": "funding_rates", "start": 0, "end": HOUR_MS},
    "bad_json": b'{"symbol": "BTCUSDT", ',
    "bad_request": [1, 2],
}


async def test_invalid_requests_get_a_clear_error_and_create_no_job(backfill: Backfill) -> None:
    bus = await backfill.bus()
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        async with backfill.running():
            replies = {
                code: await backfill.ask(bus, "request", body) for code, body in INVALID.items()
            }
        jobs = await metadata.list_jobs()
    finally:
        await metadata.close()
        await bus.close()

    assert {code: reply["error"]["code"] for code, reply in replies.items()} == {
        code: code for code in INVALID
    }
    assert replies["unknown_data_type"]["error"]["message"] == (
        "'klines' is not one of candles, funding_rates, agg_trades"
    )
    assert replies["bad_range"]["error"]["message"] == "start 7200000 is not before end 3600000"
    assert all(set(reply) == {"error"} for reply in replies.values())
    assert jobs == []


async def test_overlapping_requests_share_active_jobs_and_only_the_rest_is_fetched(
    backfill: Backfill, fake: FakeBinance, sqlite_url: str
) -> None:
    symbol = "SHAREUSDT"
    start = start_of(symbol)
    slow_pages(fake, 10)
    bus = await backfill.bus()
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        async with backfill.running():
            first = await backfill.ask(bus, "request", candles_request(symbol, start, 4))
            inside = await backfill.ask(bus, "request", candles_request(symbol, start + PAGE_MS, 1))
            across = await backfill.ask(bus, "request", candles_request(symbol, start + PAGE_MS, 9))
            other_interval = await backfill.ask(
                bus, "request", candles_request(symbol, start, 1, interval="5m")
            )
            for reply in (first, across, other_interval):
                await wait_for_job(metadata, reply["job_id"])
            after = await backfill.ask(bus, "request", candles_request(symbol, start, 1))
            await wait_for_job(metadata, after["job_id"])
        jobs = await metadata.list_jobs(symbol=symbol)
        rest = await metadata.get_job(across["job_id"])
    finally:
        await metadata.close()
        await bus.close()

    assert [r["deduplicated"] for r in (first, inside, across, other_interval, after)] == [
        False,
        True,
        False,
        False,
        False,
    ]
    assert inside["job_id"] == first["job_id"]
    assert across["job_ids"] == [first["job_id"], across["job_id"]]
    assert rest is not None and (rest.range_start, rest.range_end) == (
        start + 4 * PAGE_MS,
        start + 10 * PAGE_MS,
    )
    assert len({first["job_id"], across["job_id"], other_interval["job_id"], after["job_id"]}) == 4
    assert sorted(j.status.value for j in jobs) == ["completed"] * 4
    fetched = [f.start_time for f in delivered(fake.stats(), KLINES) if f.interval == "1m"]
    assert sorted(fetched) == [start + i * PAGE_MS for i in (0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)]


async def test_a_request_partly_covered_by_active_jobs_gets_jobs_for_the_uncovered_rest(
    backfill: Backfill, fake: FakeBinance
) -> None:
    symbol = "PARTUSDT"
    start = start_of(symbol)
    dataset = DatasetId.parse(f"candles:{symbol}:1m")
    metadata = await MetadataStore.open(backfill.metadata_url)
    bus = await backfill.bus()
    try:
        # Pages 2-3 and 6-7 are being fetched by another replica, which holds them.
        held = []
        for first_page in (2, 6):
            job = await metadata.create_job(
                dataset,
                data_type="candles",
                start=start + first_page * PAGE_MS,
                end=start + (first_page + 2) * PAGE_MS,
            )
            assert await metadata.claim_job(job.id, "other-replica", lease_seconds=300)
            held.append(job.id)
        async with backfill.running():
            covered = await backfill.ask(
                bus, "request", candles_request(symbol, start + 2 * PAGE_MS, 2)
            )
            partly = await backfill.ask(bus, "request", candles_request(symbol, start, 10))
            created = [await wait_for_job(metadata, i) for i in partly["created_job_ids"]]
    finally:
        await bus.close()
        await metadata.close()

    assert (covered["job_id"], covered["deduplicated"], covered["job_ids"]) == (
        held[0],
        True,
        [held[0]],
    )
    assert (partly["job_id"], partly["status"], partly["deduplicated"]) == (
        created[0].id,
        "pending",
        False,
    )
    assert partly["job_ids"] == [created[0].id, held[0], created[1].id, held[1], created[2].id]
    assert [(j.range_start - start, j.range_end - start, j.status) for j in created] == [
        (0, 2 * PAGE_MS, JobStatus.COMPLETED),
        (4 * PAGE_MS, 6 * PAGE_MS, JobStatus.COMPLETED),
        (8 * PAGE_MS, 10 * PAGE_MS, JobStatus.COMPLETED),
    ]
    assert sorted(f.start_time for f in fake.stats().served(KLINES)) == [
        start + page * PAGE_MS for page in (0, 1, 4, 5, 8, 9)
    ]


async def test_cancelling_a_running_job_stops_it_at_its_next_page(
    backfill: Backfill, fake: FakeBinance, sqlite_url: str
) -> None:
    symbol = "CANCELUSDT"
    slow_pages(fake, 40)
    bus = await backfill.bus()
    metadata = await MetadataStore.open(backfill.metadata_url)
    market = await open_market_store(sqlite_url)
    try:
        async with backfill.running(), backfill.events(bus) as events:
            reply = await backfill.ask(
                bus, "request", candles_request(symbol, start_of(symbol), 30)
            )

            async def two_pages_done() -> bool:
                job = await metadata.get_job(reply["job_id"])
                return job is not None and job.pages >= 2

            await wait_until(two_pages_done)
            cancel = await backfill.ask(bus, "cancel", {"job_id": reply["job_id"]})
            job = await wait_for_job(metadata, reply["job_id"])
            status = await backfill.ask(bus, "status", {"job_id": reply["job_id"]})
        count = await market.count(DatasetId.parse(f"candles:{symbol}:1m"))
    finally:
        await market.close()
        await metadata.close()
        await bus.close()

    assert (cancel["status"], cancel["cancel_requested"]) == ("running", True)
    assert job.status is JobStatus.CANCELLED
    assert 2 <= job.pages < 30
    assert count - job.records_written in (0, 1000)  # the page in flight may have been written
    assert (status["status"], status["pages"]) == ("cancelled", job.pages)
    assert events[-1]["status"] == "cancelled" and events[-1]["job_id"] == job.id


async def test_a_pending_job_is_cancelled_at_once_and_never_fetched(
    backfill: Backfill, fake: FakeBinance
) -> None:
    slow_pages(fake, 40)
    bus = await backfill.bus()
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        async with backfill.running(max_auto_backfill_jobs=1), backfill.events(bus) as events:
            busy = await backfill.ask(
                bus, "request", candles_request("BUSYUSDT", start_of("BUSYUSDT"), 20)
            )
            await wait_for_job(metadata, busy["job_id"], {JobStatus.RUNNING})
            queued = await backfill.ask(
                bus, "request", candles_request("WAITUSDT", start_of("WAITUSDT"), 2)
            )
            cancel = await backfill.ask(bus, "cancel", {"job_id": queued["job_id"]})
            unknown = await backfill.ask(bus, "cancel", {"job_id": "no-such-job"})
            await backfill.ask(bus, "cancel", {"job_id": busy["job_id"]})
            await wait_for_job(metadata, busy["job_id"])
    finally:
        await metadata.close()
        await bus.close()

    assert (queued["status"], cancel["status"]) == ("pending", "cancelled")
    assert unknown == {"error": {"code": "job_not_found", "message": "no backfill job has this id"}}
    assert [e["status"] for e in events if e["job_id"] == queued["job_id"]] == [
        "pending",
        "cancelled",
    ]
    assert [f for f in fake.stats().fetches if f.symbol == "WAITUSDT"] == []


async def test_no_more_than_max_jobs_run_at_once(backfill: Backfill, fake: FakeBinance) -> None:
    symbols = ("LIMAUSDT", "LIMBUSDT", "LIMCUSDT", "LIMDUSDT")
    slow_pages(fake, 12)
    bus = await backfill.bus()
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        async with backfill.running(max_auto_backfill_jobs=2) as service:
            replies = [
                await backfill.ask(bus, "request", candles_request(s, start_of(s), 3))
                for s in symbols
            ]
            jobs = [await wait_for_job(metadata, r["job_id"]) for r in replies]
            peak = service.scheduler.peak_running
    finally:
        await metadata.close()
        await bus.close()

    assert [j.status for j in jobs] == [JobStatus.COMPLETED] * 4
    assert peak == 2


async def test_a_job_abandoned_by_a_dead_worker_resumes_from_its_checkpoint(
    backfill: Backfill, fake: FakeBinance, sqlite_url: str
) -> None:
    symbol = "RESUMEUSDT"
    start = start_of(symbol)
    dataset = DatasetId.parse(f"candles:{symbol}:1m")
    expected = generated_candles(symbol, start, 10_000)
    metadata = await MetadataStore.open(backfill.metadata_url)
    market = await open_market_store(sqlite_url)
    try:
        job = await metadata.create_job(
            dataset, data_type="candles", start=start, end=start + 10 * PAGE_MS
        )
        # A worker that wrote four pages, checkpointed, and died with a short lease.
        assert await metadata.claim_job(job.id, "dead-worker", lease_seconds=0.2)
        await market.write(dataset, expected[:4000])
        assert await metadata.checkpoint(
            job.id,
            "dead-worker",
            position=start + 4 * PAGE_MS,
            records_written=4000,
            pages=4,
            weight_used=20,
            progress=40.0,
            details={"by": "time"},
        )
        async with backfill.running():
            done = await wait_for_job(metadata, job.id)
        candles = await stored(market, str(dataset))
    finally:
        await market.close()
        await metadata.close()

    assert (done.status, done.attempts, done.records_written, done.pages, done.weight_used) == (
        JobStatus.COMPLETED,
        2,
        10_000,
        10,
        50,
    )
    assert sorted(f.start_time for f in fake.stats().served(KLINES)) == [
        start + i * PAGE_MS for i in range(4, 10)
    ]
    assert candles == expected


async def test_an_agg_trades_job_resumes_by_trade_id(
    backfill: Backfill, fake: FakeBinance, sqlite_url: str
) -> None:
    symbol = "IDRESUMEUSDT"
    start, end = listing_time(symbol), listing_time(symbol) + 10 * MINUTE_MS
    dataset = DatasetId.parse(f"trades:{symbol}")
    metadata = await MetadataStore.open(backfill.metadata_url)
    market = await open_market_store(sqlite_url)
    try:
        job = await metadata.create_job(dataset, data_type="agg_trades", start=start, end=end)
        assert await metadata.claim_job(job.id, "dead-worker", lease_seconds=0.2)
        await market.write(dataset, generated_trades(symbol, 0, 2999))
        assert await metadata.checkpoint(
            job.id,
            "dead-worker",
            position=3000,
            records_written=3000,
            pages=3,
            weight_used=60,
            progress=50.0,
            details={"by": "id"},
        )
        async with backfill.running():
            done = await wait_for_job(metadata, job.id)
        trades = await stored(market, str(dataset))
    finally:
        await market.close()
        await metadata.close()

    assert (done.status, done.records_written, done.pages) == (JobStatus.COMPLETED, 6000, 7)
    assert [f.from_id for f in fake.stats().served(AGG_TRADES)] == [3000, 4000, 5000, 6000]
    assert trades == generated_trades(symbol, 0, 5999)


async def test_a_stopped_backfiller_hands_its_job_back_and_the_next_resumes_it(
    backfill: Backfill, fake: FakeBinance, sqlite_url: str
) -> None:
    symbol = "HANDUSDT"
    start = start_of(symbol)
    slow_pages(fake, 40)
    bus = await backfill.bus()
    metadata = await MetadataStore.open(backfill.metadata_url)
    market = await open_market_store(sqlite_url)
    try:
        async with backfill.running():
            reply = await backfill.ask(bus, "request", candles_request(symbol, start, 12))

            async def three_pages_done() -> bool:
                job = await metadata.get_job(reply["job_id"])
                return job is not None and job.pages >= 3

            await wait_until(three_pages_done)
        handed_back = await metadata.get_job(reply["job_id"])
        stopped_at = now_ms()
        async with backfill.running():
            done = await wait_for_job(metadata, reply["job_id"])
        candles = await stored(market, f"candles:{symbol}:1m")
    finally:
        await market.close()
        await metadata.close()
        await bus.close()

    assert handed_back is not None and handed_back.status is JobStatus.RUNNING
    assert handed_back.lease_expires_at is not None and handed_back.lease_expires_at <= stopped_at
    assert handed_back.checkpoint == start + handed_back.pages * PAGE_MS
    assert (done.status, done.attempts, done.records_written) == (JobStatus.COMPLETED, 2, 12_000)
    served = starts(fake.stats())
    assert sorted(set(served)) == [start + i * PAGE_MS for i in range(12)]
    assert len(served) - len(set(served)) <= 1  # only the page in flight at the stop
    assert candles == generated_candles(symbol, start, 12_000)
