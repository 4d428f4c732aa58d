"""What only the MongoDB backend promises: the original layout, ``_id``s and BSON dates.

The shared behaviour is in ``test_market_store_contract.py``; these tests read the raw
documents through a plain pymongo client, as an existing client of the original would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_core.errors import ConfigError, ValidationError
from petrosa_core.market import DatasetInfo, WriteResult
from petrosa_core.market.mongo import MongoMarketStore
from petrosa_core.models import (
    BookTicker,
    Candle,
    DatasetId,
    DatasetKind,
    DepthUpdate,
    FundingRate,
    MarkPrice,
    Record,
    Ticker,
    Trade,
)

SUSHI = "SUSHIUSDT"
T0 = 1_626_992_760_000  # 2021-07-22 22:26 UTC, a minute of the recorded frames
MIN = 60_000
TRADES = DatasetId.of(DatasetKind.TRADES, SUSHI)


@pytest.fixture
async def store(mongo_url: str) -> AsyncIterator[MongoMarketStore]:
    opened = await MongoMarketStore.open(mongo_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def raw(mongo_url: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        yield client.get_default_database()
    finally:
        await client.close()


def candle(
    open_time: int, *, close: float = 7.611, interval: str = "1m", closed: bool = True
) -> Candle:
    return Candle(
        symbol=SUSHI,
        interval=interval,
        open_time=open_time,
        close_time=open_time + MIN - 1,
        open=7.604,
        high=7.62,
        low=7.598,
        close=close,
        volume=10_355.0,
        quote_volume=78_812.3465,
        trade_count=412,
        taker_buy_base_volume=5_120.5,
        taker_buy_quote_volume=38_970.1189,
        is_closed=closed,
    )


def trade(trade_id: int, time: int, trade_type: Literal["agg", "raw"] = "agg") -> Trade:
    return Trade(
        symbol=SUSHI,
        trade_type=trade_type,
        trade_id=trade_id,
        price=7.611,
        quantity=14.0,
        trade_time=time,
        is_buyer_maker=True,
        event_time=time + 5,
    )


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


ONE_OF_EACH: list[Record] = [
    candle(T0),
    candle(1_625_097_600_000, interval="1M"),
    trade(197_336_409, T0 + 41_012),
    DepthUpdate(
        symbol=SUSHI,
        event_time=T0 + 37,
        transaction_time=T0 + 24,
        first_update_id=600_859_599_090,
        final_update_id=600_859_600_917,
        prev_final_update_id=600_859_598_061,
        bids=((7.504, 813.0), (7.609, 0.0)),
        asks=((7.615, 1563.0),),
    ),
    MarkPrice(
        symbol=SUSHI,
        event_time=T0 + 3_000,
        mark_price=7.61183462,
        index_price=7.60888611,
        estimated_settle_price=7.59862387,
        funding_rate=-0.00012345,
        next_funding_time=1_627_027_200_000,
    ),
    FundingRate(symbol=SUSHI, funding_time=1_627_027_200_005, funding_rate=0.0001),
    Ticker(
        symbol=SUSHI,
        event_time=T0 + 9_000,
        price_change=-0.215,
        price_change_percent=-2.747,
        weighted_avg_price=7.6801,
        last_price=7.611,
        last_quantity=14.0,
        open_price=7.826,
        high_price=7.95,
        low_price=7.33,
        volume=21_783_461.0,
        quote_volume=167_301_455.52,
        open_time=T0 - 86_391_000,
        close_time=T0 + 8_999,
        first_trade_id=197_000_001,
        last_trade_id=197_336_409,
        trade_count=336_409,
    ),
    BookTicker(
        symbol=SUSHI,
        update_id=600_859_600_576,
        event_time=T0 + 41_017,
        transaction_time=T0 + 41_012,
        bid_price=7.611,
        bid_quantity=2.0,
        ask_price=7.612,
        ask_quantity=297.0,
    ),
]


async def test_collections_keep_the_original_service_names(
    store: MongoMarketStore, raw: AsyncDatabase[dict[str, Any]]
) -> None:
    for record in ONE_OF_EACH:
        await store.write(record.dataset, [record])
    assert sorted(await raw.list_collection_names()) == [
        "book_tickers_SUSHIUSDT",
        "candles_SUSHIUSDT_1m",
        "candles_SUSHIUSDT_1mo",
        "depth_SUSHIUSDT",
        "funding_rates_SUSHIUSDT",
        "mark_prices_SUSHIUSDT",
        "tickers_SUSHIUSDT",
        "trades_SUSHIUSDT",
    ]
    listed = [info.dataset for info in await store.datasets()]
    assert sorted(map(str, listed)) == sorted(str(r.dataset) for r in ONE_OF_EACH)


async def test_candle_document_has_its_open_time_as_id_and_bson_dates(
    store: MongoMarketStore, raw: AsyncDatabase[dict[str, Any]]
) -> None:
    await store.write(candle(T0).dataset, [candle(T0)])
    assert await raw["candles_SUSHIUSDT_1m"].find_one() == {
        "_id": "1626992760000",
        "symbol": SUSHI,
        "interval": "1m",
        "open_time": datetime(2021, 7, 22, 22, 26, tzinfo=UTC),
        "close_time": datetime(2021, 7, 22, 22, 26, 59, 999_000, tzinfo=UTC),
        "open": 7.604,
        "high": 7.62,
        "low": 7.598,
        "close": 7.611,
        "volume": 10_355.0,
        "quote_volume": 78_812.3465,
        "trade_count": 412,
        "taker_buy_base_volume": 5_120.5,
        "taker_buy_quote_volume": 38_970.1189,
        "is_closed": True,
    }


async def test_trade_ids_carry_the_trade_type(
    store: MongoMarketStore, raw: AsyncDatabase[dict[str, Any]]
) -> None:
    await store.write(TRADES, [trade(5_000, T0), trade(5_000, T0, "raw")])
    found = raw["trades_SUSHIUSDT"].find({}, {"_id": 1, "trade_time": 1}).sort("_id", 1)
    assert [doc async for doc in found] == [
        {"_id": "agg:5000", "trade_time": utc(T0)},
        {"_id": "raw:5000", "trade_time": utc(T0)},
    ]


async def test_depth_levels_are_stored_as_arrays(
    store: MongoMarketStore, raw: AsyncDatabase[dict[str, Any]]
) -> None:
    update = ONE_OF_EACH[3]
    await store.write(update.dataset, [update])
    doc = await raw["depth_SUSHIUSDT"].find_one({"_id": "600859600917"})
    assert doc is not None
    assert (doc["bids"], doc["asks"]) == ([[7.504, 813.0], [7.609, 0.0]], [[7.615, 1563.0]])
    assert doc["event_time"] == utc(T0 + 37)


async def test_each_collection_gets_a_time_and_key_index(
    store: MongoMarketStore, raw: AsyncDatabase[dict[str, Any]]
) -> None:
    await store.write(TRADES, [trade(1, T0)])
    indexes = await raw["trades_SUSHIUSDT"].index_information()
    assert [("trade_time", 1), ("trade_id", 1), ("trade_type", 1)] in [
        list(spec["key"]) for spec in indexes.values()
    ]


SPREAD = [T0 + ms for ms in (0, 1, 998, 999, 1_000, 1_001, 1_500, 1_999, 2_000, 2_001, 3_000)]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (T0 + 999, T0 + 2_000),
        (T0 + 1, T0 + 1_001),
        (T0 + 1_000, T0 + 1_000),
        (T0 + 1_500, T0 + 1_501),
        (None, T0 + 999),
        (T0 + 2_001, None),
        (T0, T0 + 3_000),
    ],
)
async def test_millisecond_bounds_are_exact(
    store: MongoMarketStore, start: int | None, end: int | None
) -> None:
    trades = [trade(100 + i, t) for i, t in enumerate(SPREAD)]
    await store.write(TRADES, trades)
    inside = [
        t for t in trades if (start is None or t.time >= start) and (end is None or t.time < end)
    ]
    assert (await store.query(TRADES, start, end)).records == inside
    assert await store.count(TRADES, start, end) == len(inside)
    assert await store.keys(TRADES, start, end) == [t.trade_id for t in inside]
    assert await store.delete_range(TRADES, start, end) == len(inside)
    assert await store.count(TRADES) == len(trades) - len(inside)


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_paging_through_one_busy_second(store: MongoMarketStore, order: str) -> None:
    trades = [
        trade(1_000 + i, T0 + (i * 37) % 1_000 // 100, "agg" if i % 3 else "raw") for i in range(60)
    ]
    await store.write(TRADES, trades)
    expected = sorted(trades, key=lambda t: (t.time, t.trade_id, t.trade_type))
    got: list[Record] = []
    cursor: str | None = None
    while True:
        page = await store.query(
            TRADES,
            T0,
            T0 + 5,
            order=order,  # type: ignore[arg-type]
            limit=7,
            cursor=cursor,
        )
        got.extend(page.records)
        if (cursor := page.next_cursor) is None:
            break
    inside = [t for t in expected if t.time < T0 + 5]
    assert got == (inside if order == "asc" else inside[::-1])


async def test_a_cursor_resumes_only_in_its_own_direction(store: MongoMarketStore) -> None:
    await store.write(TRADES, [trade(1, T0), trade(2, T0 + 1)])
    page = await store.query(TRADES, limit=1)
    assert page.next_cursor is not None
    with pytest.raises(ValidationError) as caught:
        await store.query(TRADES, order="desc", cursor=page.next_cursor)
    assert caught.value.reason == "bad_cursor"


async def test_racing_writers_leave_the_first_closed_candle(mongo_url: str) -> None:
    stores = [await MongoMarketStore.open(mongo_url) for _ in range(2)]
    versions = [candle(T0, close=7.6 + i / 100) for i in range(8)]
    try:
        results = await asyncio.gather(
            *(stores[i % 2].write(versions[i].dataset, [versions[i]]) for i in range(8))
        )
        winners = [v for v, r in zip(versions, results, strict=True) if r.inserted]
        assert (
            sorted(results, key=lambda r: -r.inserted)
            == [WriteResult(1, 0, 0)] + [WriteResult(0, 0, 1)] * 7
        )
        assert await stores[0].latest(versions[0].dataset) == winners
    finally:
        for opened in stores:
            await opened.close()


async def test_collections_of_other_services_are_not_datasets(
    store: MongoMarketStore, raw: AsyncDatabase[dict[str, Any]]
) -> None:
    for name in (
        "analytics_SUSHIUSDT_volatility",
        "trades_sushi_usdt",
        "candles_SUSHIUSDT",
        "audit_logs",
    ):
        await raw[name].insert_one({"_id": "1", "trade_time": utc(T0)})
    await store.write(TRADES, [trade(7, T0 + 5)])
    assert await store.datasets() == [DatasetInfo(TRADES, 1, T0 + 5, T0 + 5)]


async def test_url_without_database_uses_the_service_database(mongo_server_url: str) -> None:
    opened = await MongoMarketStore.open(mongo_server_url)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_server_url)
    try:
        await opened.write(TRADES, [trade(7, T0)])
        names = await client["petrosa_data_manager"].list_collection_names()
        assert "trades_SUSHIUSDT" in names
    finally:
        await client.drop_database("petrosa_data_manager")
        await client.close()
        await opened.close()


async def test_malformed_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        await MongoMarketStore.open("mongodb://127.0.0.1:notaport/db")
