"""Backfill jobs end to end in this process: a request on NATS, the fake exchange over
HTTP, real stores underneath; what a user sees in the store, the job row and the events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
    generated_candles,
    generated_trades,
    recorded_funding,
    stored,
    wait_for_job,
)
from tests.fakes.binance_data import (
    first_agg_id_at,
    last_agg_id_at,
    listing_time,
    recorded_candles,
)
from tests.fakes.binance_exchange import FakeBinance
from tests.harness.servers import NatsServer

XRP_5M = "xrpusdt_perp_5m_klines.csv"


@pytest.fixture
def fake(shared_data: Path) -> Iterator[FakeBinance]:
    with FakeBinance(data_dir=shared_data, unknown_symbols={"NOPEUSDT"}) as exchange:
        yield exchange


@pytest.fixture(params=["sqlite_url", "mysql_url", "mongo_url"])
def market_url(request: pytest.FixtureRequest) -> str:
    """Each market store backend in turn (set up before the test's event loop runs)."""
    return str(request.getfixturevalue(request.param))


def meta_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}"


async def test_xrpusdt_5m_backfill_stores_exactly_the_recorded_candles(
    market_url: str,
    nats_server: NatsServer,
    fake: FakeBinance,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    expected = recorded_candles(shared_data / XRP_5M, "XRPUSDT", "5m")
    start, end = expected[0].open_time, expected[-1].open_time + 5 * MINUTE_MS
    backfill = Backfill(nats_server.url, market_url, meta_url(tmp_path), fake.url)
    bus = await backfill.bus()
    market = await open_market_store(market_url)
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        async with backfill.running(), backfill.events(bus) as events:
            reply = await backfill.ask(
                bus,
                "request",
                {
                    "symbol": "XRPUSDT",
                    "data_type": "candles",
                    "interval": "5m",
                    "start": start,
                    "end": end,
                    "origin": "test",
                },
            )
            job = await wait_for_job(metadata, reply["job_id"])
        candles = await stored(market, "candles:XRPUSDT:5m")
        lineage = await metadata.lineage_for("candles:XRPUSDT:5m")
        dataset = await metadata.get_dataset("candles:XRPUSDT:5m")
    finally:
        await metadata.close()
        await market.close()
        await bus.close()

    assert reply["status"] == "pending" and reply["deduplicated"] is False
    assert candles == expected
    assert (job.status, job.records_written, job.pages, job.weight_used, job.progress) == (
        JobStatus.COMPLETED,
        1999,
        2,
        10,
        100.0,
    )
    assert (job.origin, job.checkpoint, job.error_code) == ("test", end, None)
    assert [(e["status"], e["records_written"], e["progress"]) for e in events] == [
        ("pending", 0, 0.0),
        ("running", 0, 0.0),
        ("running", 1000, 50.03),
        ("running", 1999, 100.0),
        ("completed", 1999, 100.0),
    ]
    assert {e["job_id"] for e in events} == {job.id}
    assert [
        (r.source, r.process, r.job_id, r.range_start, r.range_end, r.record_count) for r in lineage
    ] == [("binance:/fapi/v1/klines", "backfiller", job.id, start, end, 1999)]
    assert dataset is not None and dataset.source == "binance:/fapi/v1/klines"
    assert [f.start_time for f in fake.stats().served(KLINES)] == [start, start + 1000 * 300_000]


async def test_funding_backfill_stores_exactly_the_recorded_rates(
    nats_server: NatsServer,
    fake: FakeBinance,
    shared_data: Path,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    expected = recorded_funding(shared_data / "xrpusdt_perp_funding_rates.csv", "XRPUSDT")
    end = expected[-1].funding_time + 1
    backfill = Backfill(nats_server.url, sqlite_url, meta_url(tmp_path), fake.url)
    bus = await backfill.bus()
    market = await open_market_store(sqlite_url)
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        async with backfill.running():
            reply = await backfill.ask(
                bus,
                "request",
                {
                    "symbol": "xrpusdt",
                    "data_type": "funding_rates",
                    "start": "2021-11-18T00:00:00Z",
                    "end": end,
                },
            )
            job = await wait_for_job(metadata, reply["job_id"])
        rates = await stored(market, "funding_rates:XRPUSDT")
        lineage = await metadata.lineage_for("funding_rates:XRPUSDT")
    finally:
        await metadata.close()
        await market.close()
        await bus.close()

    assert rates == expected
    assert (job.status, job.dataset_id, job.range_start) == (
        JobStatus.COMPLETED,
        "funding_rates:XRPUSDT",
        1637193600000,
    )
    assert [(r.source, r.record_count) for r in lineage] == [("binance:/fapi/v1/fundingRate", 91)]


async def test_agg_trades_backfill_stores_every_trade_of_the_range_once(
    nats_server: NatsServer,
    fake: FakeBinance,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    symbol = "AGGJOBUSDT"
    start = listing_time(symbol) - 3 * HOUR_MS  # three empty hours before the listing
    end = listing_time(symbol) + 10 * MINUTE_MS
    backfill = Backfill(nats_server.url, sqlite_url, meta_url(tmp_path), fake.url)
    bus = await backfill.bus()
    market = await open_market_store(sqlite_url)
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        async with backfill.running():
            reply = await backfill.ask(
                bus,
                "request",
                {"symbol": symbol, "data_type": "agg_trades", "start": start, "end": end},
            )
            job = await wait_for_job(metadata, reply["job_id"])
        trades = await stored(market, f"trades:{symbol}")
    finally:
        await metadata.close()
        await market.close()
        await bus.close()

    first, last = first_agg_id_at(symbol, start), last_agg_id_at(symbol, end - 1)
    assert trades == generated_trades(symbol, first, last)
    assert (job.status, job.records_written, job.checkpoint) == (JobStatus.COMPLETED, 6000, end)
    served = fake.stats().served(AGG_TRADES)
    assert [f.from_id for f in served] == [
        None,
        None,
        None,
        None,
        1000,
        2000,
        3000,
        4000,
        5000,
        6000,
    ]


async def test_a_large_job_under_a_compressed_budget_draws_no_429(
    nats_server: NatsServer,
    shared_data: Path,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    symbol, pages = "BUDGETUSDT", 80  # 400 weight: three windows of a 200-weight budget
    start = listing_time(symbol) + DAY_MS
    with FakeBinance(data_dir=shared_data, weight_limit=200, window=2.0) as fake:
        backfill = Backfill(nats_server.url, sqlite_url, meta_url(tmp_path), fake.url)
        bus = await backfill.bus()
        market = await open_market_store(sqlite_url)
        metadata = await MetadataStore.open(backfill.metadata_url)
        try:
            async with backfill.running(binance_weight_limit=200, binance_weight_window=2.0):
                reply = await backfill.ask(bus, "request", candles_request(symbol, start, pages))
                job = await wait_for_job(metadata, reply["job_id"], timeout=120)
            count = await market.count(DatasetId.parse(f"candles:{symbol}:1m"))
            sample = (await stored(market, f"candles:{symbol}:1m"))[::997]
        finally:
            await metadata.close()
            await market.close()
            await bus.close()
        stats = fake.stats()

    assert (job.status, job.records_written, job.weight_used) == (
        JobStatus.COMPLETED,
        pages * 1000,
        pages * 5,
    )
    assert count == pages * 1000
    assert sample == generated_candles(symbol, start, pages * 1000)[::997]
    assert (stats.rate_limited, stats.banned) == (0, 0)
    assert max(stats.weight_by_window.values()) <= 200
    assert len(stats.weight_by_window) >= 3


async def test_server_errors_and_timeouts_still_give_exact_data(
    nats_server: NatsServer,
    shared_data: Path,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    symbol = "FLAKYJOBUSDT"
    start = listing_time(symbol) + DAY_MS
    with FakeBinance(
        data_dir=shared_data, error_rate=0.3, timeout_rate=0.1, timeout_delay=1.0, seed=11
    ) as fake:
        fake.script("503", "timeout", "502", path=KLINES)
        backfill = Backfill(nats_server.url, sqlite_url, meta_url(tmp_path), fake.url)
        bus = await backfill.bus()
        market = await open_market_store(sqlite_url)
        metadata = await MetadataStore.open(backfill.metadata_url)
        try:
            async with backfill.running(
                binance_timeout=0.3,
                binance_max_attempts=20,
                binance_retry_backoff=0.01,
                binance_retry_max_backoff=0.1,
            ):
                reply = await backfill.ask(bus, "request", candles_request(symbol, start, 8))
                job = await wait_for_job(metadata, reply["job_id"], timeout=120)
            candles = await stored(market, f"candles:{symbol}:1m")
        finally:
            await metadata.close()
            await market.close()
            await bus.close()
        stats = fake.stats()

    assert job.status is JobStatus.COMPLETED
    assert candles == generated_candles(symbol, start, 8000)
    assert {"503", "502", "timeout"} <= {f.fault for f in stats.fetches}
    served = [f.start_time for f in stats.served(KLINES)]
    assert served == [start + i * PAGE_MS for i in range(8)]


async def test_an_unknown_symbol_fails_the_job_with_binances_code(
    nats_server: NatsServer,
    fake: FakeBinance,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    backfill = Backfill(nats_server.url, sqlite_url, meta_url(tmp_path), fake.url)
    bus = await backfill.bus()
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        async with backfill.running(), backfill.events(bus) as events:
            reply = await backfill.ask(
                bus,
                "request",
                {
                    "symbol": "NOPEUSDT",
                    "data_type": "candles",
                    "interval": "1m",
                    "start": 1_700_000_000_000,
                    "end": 1_700_000_000_000 + HOUR_MS,
                },
            )
            job = await wait_for_job(metadata, reply["job_id"])
        lineage = await metadata.lineage_for("candles:NOPEUSDT:1m")
    finally:
        await metadata.close()
        await bus.close()

    assert (job.status, job.error_code, job.error_message) == (
        JobStatus.FAILED,
        "-1121",
        "Invalid symbol.",
    )
    assert fake.stats().requests_by_path[KLINES] == 1
    assert events[-1]["status"] == "failed" and events[-1]["error_code"] == "-1121"
    assert lineage == []
