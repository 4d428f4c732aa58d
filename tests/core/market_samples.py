"""Realistic market records of every kind for store tests, built from the recorded feed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from petrosa_core.market import MarketStore
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
from tests.harness import recorded

SUSHI = "SUSHIUSDT"
T0 = 1_626_992_700_000  # 2021-07-22 22:25 UTC, the minute of the recorded frames
MIN = 60_000
C1M = DatasetId.of(DatasetKind.CANDLES, SUSHI, "1m")
TRADES = DatasetId.of(DatasetKind.TRADES, SUSHI)
DEPTH = DatasetId.of(DatasetKind.DEPTH, SUSHI)


def candle(
    open_time: int,
    *,
    close: float = 7.611,
    closed: bool = True,
    interval: str = "1m",
    symbol: str = SUSHI,
    length: int = MIN,
) -> Candle:
    return Candle(
        symbol=symbol,
        interval=interval,
        open_time=open_time,
        close_time=open_time + length - 1,
        open=7.604,
        high=max(7.62, close),
        low=7.598,
        close=close,
        volume=10_355.0,
        quote_volume=78_812.3465,
        trade_count=412,
        taker_buy_base_volume=5_120.5,
        taker_buy_quote_volume=38_970.1189,
        is_closed=closed,
    )


def trade(trade_id: int, time: int, *, trade_type: str = "agg", price: float = 7.611) -> Trade:
    if trade_type == "agg":
        return Trade(
            symbol=SUSHI,
            trade_type="agg",
            trade_id=trade_id,
            price=price,
            quantity=14.0,
            trade_time=time,
            is_buyer_maker=True,
            event_time=time + 5,
            first_trade_id=trade_id * 3,
            last_trade_id=trade_id * 3 + 2,
        )
    return Trade(
        symbol=SUSHI,
        trade_type="raw",
        trade_id=trade_id,
        price=price,
        quantity=2.0,
        trade_time=time,
        is_buyer_maker=False,
        event_time=time + 5,
    )


def depth(final_id: int, time: int) -> DepthUpdate:
    return DepthUpdate(
        symbol=SUSHI,
        event_time=time,
        transaction_time=time - 13,
        first_update_id=final_id - 1500,
        final_update_id=final_id,
        prev_final_update_id=final_id - 2000,
        bids=((7.504, 813.0), (7.609, 0.0)),
        asks=((7.615, 1563.0),),
    )


def csv_candles(path: Path, interval: str, length: int) -> list[Candle]:
    """Closed XRPUSDT candles from a recorded kline CSV."""
    return recorded.csv_candles(path, "XRPUSDT", interval, length)


async def read_all(
    store: MarketStore,
    dataset: DatasetId,
    *,
    limit: int = 10_000,
    cursor: str | None = None,
    **kwargs: Any,
) -> list[Record]:
    """Every record of a query, following cursors, in the order the store pages them."""
    out: list[Record] = []
    while True:
        page = await store.query(dataset, limit=limit, cursor=cursor, **kwargs)
        out.extend(page.records)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


ROUND_TRIP: dict[str, Record] = {
    "candle": Candle(
        symbol=SUSHI,
        interval="1m",
        open_time=T0,
        close_time=T0 + MIN - 1,
        open=1 / 3,
        high=0.1 + 0.2,
        low=1e-8,
        close=7.611,
        volume=123_456_789.123_456_79,
        quote_volume=9.876_543_21e-5,
        trade_count=2_147_483_649,
        taker_buy_base_volume=0.0,
        taker_buy_quote_volume=1.7976931348623157e308,
        is_closed=False,
    ),
    "agg_trade": Trade(
        symbol=SUSHI,
        trade_type="agg",
        trade_id=197_336_409,
        price=7.611,
        quantity=0.1 + 0.7,
        trade_time=T0 + 41_012,
        is_buyer_maker=True,
        event_time=T0 + 41_017,
        first_trade_id=600_859_600_576,
        last_trade_id=600_859_600_579,
    ),
    "raw_trade": Trade(
        symbol=SUSHI,
        trade_type="raw",
        trade_id=9_007_199_254_740_993,
        price=7.612,
        quantity=3.0,
        trade_time=T0 + 41_013,
        is_buyer_maker=False,
    ),
    "depth": DepthUpdate(
        symbol=SUSHI,
        event_time=T0 + 41_037,
        transaction_time=T0 + 41_024,
        first_update_id=600_859_599_090,
        final_update_id=600_859_600_917,
        prev_final_update_id=600_859_598_061,
        bids=((7.504, 813.0), (7.609, 0.0), (7.611, 2.0)),
        asks=(),
    ),
    "mark_price": MarkPrice(
        symbol=SUSHI,
        event_time=T0 + 3_000,
        mark_price=7.61183462,
        index_price=7.60888611,
        estimated_settle_price=7.59862387,
        funding_rate=-0.00012345,
        next_funding_time=1_627_027_200_000,
    ),
    "funding_rate": FundingRate(
        symbol="XRPUSDT", funding_time=1_637_193_600_005, funding_rate=0.0001, mark_price=1.0874
    ),
    "funding_rate_without_mark": FundingRate(
        symbol="XRPUSDT", funding_time=1_637_222_400_002, funding_rate=-3.13e-05
    ),
    "ticker": Ticker(
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
    "book_ticker": BookTicker(
        symbol=SUSHI,
        update_id=600_859_600_576,
        event_time=T0 + 41_017,
        transaction_time=T0 + 41_012,
        bid_price=7.611,
        bid_quantity=2.0,
        ask_price=7.612,
        ask_quantity=297.0,
    ),
}
