"""What each field of a served record means; the ``fields`` object of every data response."""

from __future__ import annotations

from petrosa_core.models import DatasetKind

_COMMON = {
    "symbol": "Binance symbol, upper case",
    "event_time": "Exchange event time, epoch ms UTC",
    "transaction_time": "Exchange matching-engine time, epoch ms UTC",
}

_BY_KIND: dict[DatasetKind, dict[str, str]] = {
    DatasetKind.CANDLES: {
        "interval": "Candle interval (1m .. 1M)",
        "open_time": "Candle open time, epoch ms UTC",
        "close_time": "Candle close time (next open - 1 ms), epoch ms UTC",
        "open": "First trade price",
        "high": "Highest trade price",
        "low": "Lowest trade price",
        "close": "Last trade price",
        "volume": "Base-asset volume",
        "quote_volume": "Quote-asset volume",
        "trade_count": "Number of trades",
        "taker_buy_base_volume": "Base-asset volume bought by takers",
        "taker_buy_quote_volume": "Quote-asset volume bought by takers",
        "is_closed": "True once the candle is final",
    },
    DatasetKind.TRADES: {
        "trade_type": "agg (aggregate trade) or raw (single trade)",
        "trade_id": "Aggregate trade id (agg) or trade id (raw)",
        "price": "Trade price",
        "quantity": "Trade quantity, base asset",
        "trade_time": "Trade time, epoch ms UTC",
        "is_buyer_maker": "True when the buyer was the maker (a sell by the taker)",
        "first_trade_id": "First trade id inside an aggregate trade",
        "last_trade_id": "Last trade id inside an aggregate trade",
    },
    DatasetKind.DEPTH: {
        "first_update_id": "First update id in this diff (U)",
        "final_update_id": "Final update id in this diff (u)",
        "prev_final_update_id": "Final update id of the previous diff (pu)",
        "bids": "Changed bid levels as [price, quantity]; quantity 0 removes the level",
        "asks": "Changed ask levels as [price, quantity]; quantity 0 removes the level",
    },
    DatasetKind.MARK_PRICES: {
        "mark_price": "Mark price",
        "index_price": "Index price",
        "estimated_settle_price": "Estimated settle price",
        "funding_rate": "Current funding rate estimate",
        "next_funding_time": "Next funding time, epoch ms UTC",
    },
    DatasetKind.FUNDING_RATES: {
        "funding_time": "Funding time, epoch ms UTC",
        "funding_rate": "Realised funding rate",
        "mark_price": "Mark price at funding time, when known",
    },
    DatasetKind.TICKERS: {
        "price_change": "Price change over 24 h",
        "price_change_percent": "Price change over 24 h, percent",
        "weighted_avg_price": "Volume-weighted average price over 24 h",
        "last_price": "Last trade price",
        "last_quantity": "Last trade quantity",
        "open_price": "Price 24 h ago",
        "high_price": "Highest price over 24 h",
        "low_price": "Lowest price over 24 h",
        "volume": "Base-asset volume over 24 h",
        "quote_volume": "Quote-asset volume over 24 h",
        "open_time": "Start of the 24 h window, epoch ms UTC",
        "close_time": "End of the 24 h window, epoch ms UTC",
        "first_trade_id": "First trade id in the window",
        "last_trade_id": "Last trade id in the window",
        "trade_count": "Number of trades in the window",
    },
    DatasetKind.BOOK_TICKERS: {
        "update_id": "Order book update id",
        "bid_price": "Best bid price",
        "bid_quantity": "Best bid quantity",
        "ask_price": "Best ask price",
        "ask_quantity": "Best ask quantity",
    },
}


def describe(kind: DatasetKind, name: str) -> str:
    """The meaning of field ``name`` of ``kind``; ``*_iso`` fields describe their source."""
    if name.endswith("_iso"):
        return f"{name.removesuffix('_iso')} as ISO-8601 UTC"
    if name == "event_time" and kind is DatasetKind.TRADES:
        return "Event time of the websocket frame, epoch ms UTC (absent for REST backfills)"
    return _BY_KIND[kind].get(name) or _COMMON.get(name, name.replace("_", " "))
