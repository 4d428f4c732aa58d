"""The backfiller's Binance client against the fake exchange: exact data, no 429s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client import REGISTRY

from petrosa_backfiller.binance import (
    BinanceClient,
    BinanceClientError,
    RestPage,
    WeightLimiter,
)
from petrosa_core.errors import ExchangeError
from petrosa_core.models import Candle, FundingRate, Trade
from tests.fakes.binance_data import (
    HOUR_MS,
    MINUTE_MS,
    candle_from_row,
    first_agg_id_at,
    generated_agg_trade,
    generated_kline,
    listing_time,
    read_csv,
    recorded_candles,
)
from tests.fakes.binance_exchange import FakeBinance

R = TypeVar("R")
KLINES = "/fapi/v1/klines"
FUNDING = "/fapi/v1/fundingRate"
AGG_TRADES = "/fapi/v1/aggTrades"
DAY_MS = 24 * HOUR_MS


def generated_candles(symbol: str, interval_ms: int, start: int, count: int) -> list[Candle]:
    now = int(time.time() * 1000)
    return [
        candle_from_row(symbol, "1m", generated_kline(symbol, "1m", start + i * interval_ms), now)
        for i in range(count)
    ]


async def collect(pages: AsyncIterator[RestPage[R]]) -> tuple[list[R], list[RestPage[R]]]:
    seen = [page async for page in pages]
    return [record for page in seen for record in page.records], seen


def client_for(fake: FakeBinance, limiter: WeightLimiter | None = None, **kw: Any) -> BinanceClient:
    kw = {"timeout": 5.0, "backoff": 0.01, "max_backoff": 0.1, **kw}
    return BinanceClient(fake.url, limiter or WeightLimiter(fake.weight_limit, fake.window), **kw)


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def fake(shared_data: Path) -> Iterator[FakeBinance]:
    with FakeBinance(data_dir=shared_data, unknown_symbols={"NOPEUSDT"}) as exchange:
        yield exchange


async def test_all_recorded_xrpusdt_5m_candles_arrive_exactly(
    fake: FakeBinance, shared_data: Path
) -> None:
    expected = recorded_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m")
    start, end = expected[0].open_time, expected[-1].open_time + 5 * MINUTE_MS
    async with client_for(fake) as client:
        candles, pages = await collect(client.klines("XRPUSDT", "5m", start, end))
    assert candles == expected
    assert [(len(p.records), p.weight) for p in pages] == [(1000, 5), (999, 5)]
    assert [f.start_time for f in fake.stats().served(KLINES)] == [start, start + 1000 * 300_000]


async def test_recorded_gaps_are_skipped_not_refetched(
    fake: FakeBinance, shared_data: Path
) -> None:
    expected = recorded_candles(shared_data / "xrpeth_spot_1m_klines_with_gaps.csv", "XRPETH", "1m")
    start, end = expected[0].open_time, expected[-1].open_time + MINUTE_MS
    async with client_for(fake) as client:
        candles, pages = await collect(client.klines("XRPETH", "1m", start, end))
    assert candles == expected
    starts = [f.start_time for f in fake.stats().served(KLINES)]
    assert len(starts) == len(set(starts)) == len(pages) == 3


async def test_candles_close_only_once_their_close_time_has_passed(fake: FakeBinance) -> None:
    start, end = 1637110800000, 1637110800000 + 3 * HOUR_MS
    async with client_for(fake) as client:
        candles, _ = await collect(client.klines("XRPUSDT", "1h", start, end, now=end - 1))
    assert [c.is_closed for c in candles] == [True, True, False]


async def test_funding_rates_arrive_exactly(fake: FakeBinance, shared_data: Path) -> None:
    expected = [
        FundingRate("XRPUSDT", int(r["funding_time_ms"]), float(r["funding_rate"]), None)
        for r in read_csv(shared_data / "xrpusdt_perp_funding_rates.csv")
    ]
    async with client_for(fake) as client:
        rates, pages = await collect(client.funding_rates("XRPUSDT", 1637193600000, 1639785600015))
    assert rates == expected
    assert [p.weight for p in pages] == [1]


async def test_generated_funding_carries_mark_prices(fake: FakeBinance) -> None:
    listed = listing_time("FUNDUSDT")
    async with client_for(fake) as client:
        rates, pages = await collect(
            client.funding_rates("FUNDUSDT", listed, listed + 400 * 8 * HOUR_MS)
        )
    assert len(rates) == 400 and len(pages) == 1
    assert all(r.mark_price is not None and r.mark_price > 0 for r in rates)
    assert [r.funding_time // (8 * HOUR_MS) for r in rates] == list(
        range(rates[0].funding_time // (8 * HOUR_MS), rates[0].funding_time // (8 * HOUR_MS) + 400)
    )


async def test_a_large_job_under_a_compressed_budget_draws_no_429(shared_data: Path) -> None:
    symbols = ("JOBAUSDT", "JOBBUSDT", "JOBCUSDT")
    pages_each = 14  # 42 pages of weight 5: three windows' worth of an 80-weight budget
    with FakeBinance(data_dir=shared_data, weight_limit=80, window=1.0) as fake:
        limiter = WeightLimiter(limit=80, window=1.0)
        async with client_for(fake, limiter) as client:

            async def job(symbol: str) -> tuple[list[Candle], list[RestPage[Candle]]]:
                start = listing_time(symbol) + DAY_MS
                end = start + pages_each * 1000 * MINUTE_MS
                return await collect(client.klines(symbol, "1m", start, end))

            results = await asyncio.gather(*(job(s) for s in symbols))
        stats = fake.stats()
    for symbol, (candles, pages) in zip(symbols, results, strict=True):
        start = listing_time(symbol) + DAY_MS
        assert candles == generated_candles(symbol, MINUTE_MS, start, pages_each * 1000)
        assert sum(p.weight for p in pages) == pages_each * 5
    assert (stats.rate_limited, stats.banned) == (0, 0)
    assert max(stats.weight_by_window.values()) <= 80
    assert len(stats.weight_by_window) >= 3
    served = [(f.symbol, f.start_time) for f in stats.served(KLINES)]
    assert len(served) == len(set(served)) == pages_each * len(symbols)


async def test_server_errors_and_timeouts_are_retried_to_exact_data(shared_data: Path) -> None:
    expected = recorded_candles(shared_data / "xrpeth_spot_1m_klines_with_gaps.csv", "XRPETH", "1m")
    start = listing_time("FLAKYUSDT") + DAY_MS
    with FakeBinance(
        data_dir=shared_data, error_rate=0.25, timeout_rate=0.1, timeout_delay=1.0, seed=5
    ) as fake:
        fake.script("timeout", "503", "timeout", path=KLINES)  # at least these, then random
        async with client_for(fake, timeout=0.3, max_attempts=12) as client:
            recorded, _ = await collect(
                client.klines(
                    "XRPETH", "1m", expected[0].open_time, expected[-1].open_time + MINUTE_MS
                )
            )
            generated, _ = await collect(
                client.klines("FLAKYUSDT", "1m", start, start + 6000 * MINUTE_MS)
            )
        stats = fake.stats()
    assert recorded == expected
    assert generated == generated_candles("FLAKYUSDT", MINUTE_MS, start, 6000)
    faults = [f.fault for f in stats.fetches]
    assert {"503", "timeout"} <= set(faults)
    served = [(f.symbol, f.start_time) for f in stats.served(KLINES)]
    assert len(served) == len(set(served)) == 3 + 6


async def test_unknown_symbol_raises_at_once_with_binances_code(fake: FakeBinance) -> None:
    async with client_for(fake) as client:
        with pytest.raises(BinanceClientError) as caught:
            await collect(client.klines("NOPEUSDT", "1m", 0, 10 * MINUTE_MS))
    assert isinstance(caught.value, ExchangeError)
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400,
        -1121,
        "Invalid symbol.",
    )
    assert fake.stats().requests_by_path[KLINES] == 1


async def test_a_429_is_honoured_and_draws_no_ban(fake: FakeBinance, shared_data: Path) -> None:
    expected = recorded_candles(shared_data / "xrpusdt_perp_1h_klines.csv", "XRPUSDT", "1h")
    before = counter("data_manager_binance_rate_limited_total", status="429")
    fake.script("429", path=KLINES)
    async with client_for(fake) as client:
        candles, _ = await collect(
            client.klines("XRPUSDT", "1h", expected[0].open_time, expected[-1].open_time + HOUR_MS)
        )
    stats = fake.stats()
    assert candles == expected
    assert (stats.rate_limited, stats.banned) == (1, 0)
    limited, retried = stats.fetches
    assert (limited.status, retried.status) == (429, 200)
    assert retried.at >= limited.at + fake.retry_after
    assert counter("data_manager_binance_rate_limited_total", status="429") == before + 1


async def test_a_418_pauses_every_request_until_the_ban_ends(
    fake: FakeBinance, shared_data: Path
) -> None:
    candles_expected = recorded_candles(shared_data / "xrpusdt_perp_1h_klines.csv", "XRPUSDT", "1h")
    fake.script("418", path=KLINES)
    async with client_for(fake) as client:
        first = asyncio.create_task(
            collect(
                client.klines(
                    "XRPUSDT", "1h", candles_expected[0].open_time, 1637467200000 + HOUR_MS
                )
            )
        )
        # Poll another task's progress: the 418 has been read once the limiter pauses.
        while client.limiter.paused_until <= time.time():
            await asyncio.sleep(0.005)
        second = collect(client.funding_rates("XRPUSDT", 1637193600000, 1639785600015))
        (candles, _), (rates, _) = await asyncio.gather(first, second)
    stats = fake.stats()
    ban = stats.fetches[0]
    assert (ban.status, stats.banned, stats.rate_limited) == (418, 1, 0)
    assert candles == candles_expected and len(rates) == 91
    assert all(f.at >= ban.at + fake.retry_after for f in stats.fetches[1:])
    assert {f.path for f in stats.fetches[1:]} == {KLINES, FUNDING}


async def test_agg_trades_page_by_id_from_before_listing(fake: FakeBinance) -> None:
    symbol = "AGGUSDT"
    listed = listing_time(symbol)
    start, end = listed - 90 * MINUTE_MS, listed + 10 * MINUTE_MS
    async with client_for(fake) as client:
        trades, pages = await collect(client.agg_trades(symbol, start, end))
    assert trades == [expected_trade(symbol, a) for a in range(6000)]
    assert [len(p.records) for p in pages] == [0, 1000, 1000, 1000, 1000, 1000, 1000, 0]
    assert sum(p.weight for p in pages) == 8 * 20
    served = fake.stats().served(AGG_TRADES)
    assert [(f.start_time, f.end_time) for f in served[:2]] == [
        (start, start + HOUR_MS - 1),
        (start + HOUR_MS, end - 1),
    ]
    assert [f.from_id for f in served[2:]] == [1000, 2000, 3000, 4000, 5000, 6000]


async def test_agg_trades_of_a_range_are_contiguous(fake: FakeBinance) -> None:
    symbol = "AGGUSDT"
    start = listing_time(symbol) + 30 * DAY_MS + 123
    end = start + 7 * MINUTE_MS
    async with client_for(fake) as client:
        trades, _ = await collect(client.agg_trades(symbol, start, end))
    first, last = first_agg_id_at(symbol, start), first_agg_id_at(symbol, end) - 1
    assert [t.trade_id for t in trades] == list(range(first, last + 1))
    assert trades == [expected_trade(symbol, a) for a in range(first, last + 1)]


def expected_trade(symbol: str, agg_id: int) -> Trade:
    row = generated_agg_trade(symbol, agg_id)
    return Trade(
        symbol,
        "agg",
        row["a"],
        float(row["p"]),
        float(row["q"]),
        row["T"],
        row["m"],
        None,
        row["f"],
        row["l"],
    )


async def test_klines_from_before_listing_are_the_listed_ones_in_one_request(
    fake: FakeBinance,
) -> None:
    symbol = "LATEUSDT"
    listed = listing_time(symbol)
    async with client_for(fake) as client:
        candles, _ = await collect(
            client.klines(symbol, "1m", listed - 3 * DAY_MS, listed + 500 * MINUTE_MS)
        )
        nothing, empty_pages = await collect(
            client.klines(symbol, "1m", listed - 3 * DAY_MS, listed - DAY_MS)
        )
    assert candles == generated_candles(symbol, MINUTE_MS, listed, 500)
    assert (nothing, [p.weight for p in empty_pages]) == ([], [5])
    assert fake.stats().requests_by_path[KLINES] == 2


async def test_a_short_range_asks_for_a_cheap_page(fake: FakeBinance) -> None:
    start = listing_time("CHEAPUSDT") + DAY_MS
    async with client_for(fake) as client:
        _, pages = await collect(client.klines("CHEAPUSDT", "1m", start, start + 99 * MINUTE_MS))
    assert [(len(p.records), p.weight) for p in pages] == [(99, 1)]
    assert fake.stats().served(KLINES)[0].limit == 99


async def test_order_book_snapshot(fake: FakeBinance) -> None:
    async with client_for(fake) as client:
        book = await client.order_book("XRPUSDT", limit=5)
    assert len(book.bids) == len(book.asks) == 5
    assert book.bids[0][0] < book.asks[0][0]
