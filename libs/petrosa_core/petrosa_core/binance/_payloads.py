"""Raw Binance USD-M futures websocket payloads, each able to become a domain record.

Field names follow the domain; ``name=`` gives Binance's one-letter key. Decimal strings
are typed ``float`` and converted by a non-strict msgspec decoder, which rounds them
exactly as ``float(s)`` does. Fields the domain does not keep are not declared. Times
must lie in 1970 .. 9999 and ids in int64, the ranges every store can hold; a frame outside
them is refused here rather than by a store in the middle of a batch. Numbers must be
finite, prices positive, quantities not negative, and a kline's high and low must bound
its open and close: a record that cannot describe a real market is never stored.
"""

from __future__ import annotations

import math
import sys
from typing import Annotated

import msgspec
from msgspec import Meta, field

from petrosa_core.errors import ParseError
from petrosa_core.intervals import INTERVALS
from petrosa_core.models import (
    MAX_TIME_MS,
    BookTicker,
    Candle,
    DepthUpdate,
    MarkPrice,
    Ticker,
    Trade,
)

_KNOWN_INTERVALS = frozenset(INTERVALS)

Millis = Annotated[int, Meta(ge=0, le=MAX_TIME_MS)]
Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
# The bounds refuse NaN (it fails every comparison) and both infinities.
_MAX = sys.float_info.max
Finite = Annotated[float, Meta(ge=-_MAX, le=_MAX)]
Price = Annotated[float, Meta(gt=0.0, le=_MAX)]
Amount = Annotated[float, Meta(ge=0.0, le=_MAX)]
Levels = tuple[tuple[Price, Amount], ...]


class Payload(msgspec.Struct, tag_field="e", gc=False):
    """Base of every payload; the ``e`` key picks the subclass."""

    symbol: str = field(name="s")  # checked once per new name by the parser
    event_time: Millis = field(name="E")


class AggTradePayload(Payload, tag="aggTrade", gc=False):
    agg_id: Int64 = field(name="a")
    price: Price = field(name="p")
    quantity: Price = field(name="q")
    first_trade_id: Int64 = field(name="f")
    last_trade_id: Int64 = field(name="l")
    trade_time: Millis = field(name="T")
    is_buyer_maker: bool = field(name="m")

    def to_record(self) -> Trade:
        return Trade(
            symbol=self.symbol,
            trade_type="agg",
            trade_id=self.agg_id,
            price=self.price,
            quantity=self.quantity,
            trade_time=self.trade_time,
            is_buyer_maker=self.is_buyer_maker,
            event_time=self.event_time,
            first_trade_id=self.first_trade_id,
            last_trade_id=self.last_trade_id,
        )


class TradePayload(Payload, tag="trade", gc=False):
    """A raw trade; every execution type ``X`` (MARKET, ADL, INSURANCE_FUND, ...) is kept.

    Binance sends ``X: "NA"`` frames with price and quantity 0; they are kept as sent, and
    only they may carry a zero.
    """

    trade_id: Int64 = field(name="t")
    price: Amount = field(name="p")
    quantity: Amount = field(name="q")
    trade_time: Millis = field(name="T")
    is_buyer_maker: bool = field(name="m")
    execution_type: str = field(name="X", default="MARKET")

    def to_record(self) -> Trade:
        if self.execution_type != "NA" and not (self.price > 0 and self.quantity > 0):
            raise ParseError("bad_value", f"p, q: a {self.execution_type[:20]} trade of zero")
        return Trade(
            symbol=self.symbol,
            trade_type="raw",
            trade_id=self.trade_id,
            price=self.price,
            quantity=self.quantity,
            trade_time=self.trade_time,
            is_buyer_maker=self.is_buyer_maker,
            event_time=self.event_time,
        )


class KlineBody(msgspec.Struct, gc=False):
    open_time: Millis = field(name="t")
    close_time: Millis = field(name="T")
    interval: str = field(name="i")
    open: Price = field(name="o")
    close: Price = field(name="c")
    high: Price = field(name="h")
    low: Price = field(name="l")
    volume: Amount = field(name="v")
    trade_count: Int64 = field(name="n")
    is_closed: bool = field(name="x")
    quote_volume: Amount = field(name="q")
    taker_buy_base_volume: Amount = field(name="V")
    taker_buy_quote_volume: Amount = field(name="Q")


class KlinePayload(Payload, tag="kline", gc=False):
    k: KlineBody = field(name="k")

    def to_record(self) -> Candle:
        k = self.k
        if k.interval not in _KNOWN_INTERVALS:
            raise ParseError("bad_value", f"k.i: unknown kline interval {k.interval!r}")
        _check_kline_bounds(k)
        return Candle(
            symbol=self.symbol,
            interval=k.interval,
            open_time=k.open_time,
            close_time=k.close_time,
            open=k.open,
            high=k.high,
            low=k.low,
            close=k.close,
            volume=k.volume,
            quote_volume=k.quote_volume,
            trade_count=k.trade_count,
            taker_buy_base_volume=k.taker_buy_base_volume,
            taker_buy_quote_volume=k.taker_buy_quote_volume,
            is_closed=k.is_closed,
        )


def _check_kline_bounds(k: KlineBody) -> None:
    """High and low bound open and close; the taker's share is part of the volume."""
    if not k.low <= min(k.open, k.close) <= max(k.open, k.close) <= k.high:
        raise ParseError(
            "bad_value", f"k: high {k.high} and low {k.low} do not bound {k.open}, {k.close}"
        )
    if k.taker_buy_base_volume > k.volume or k.taker_buy_quote_volume > k.quote_volume:
        raise ParseError("bad_value", "k: taker buy volume exceeds the volume")
    if k.close_time < k.open_time:
        raise ParseError("bad_value", f"k: close time {k.close_time} before open time")


class MarkPricePayload(Payload, tag="markPriceUpdate", gc=False):
    mark_price: Price = field(name="p")
    index_price: Amount = field(name="i")
    estimated_settle_price: Amount = field(name="P")
    # A string, not a float: delivery contracts send "" because they never pay funding.
    funding_rate: str = field(name="r")
    next_funding_time: Millis = field(name="T")

    def to_record(self) -> MarkPrice:
        return MarkPrice(
            symbol=self.symbol,
            event_time=self.event_time,
            mark_price=self.mark_price,
            index_price=self.index_price,
            estimated_settle_price=self.estimated_settle_price,
            funding_rate=_funding_rate(self.funding_rate),
            next_funding_time=self.next_funding_time,
        )


def _funding_rate(text: str) -> float:
    """Binance's ``r``; empty (a delivery contract, which pays no funding) reads as 0.0."""
    if not text:
        return 0.0
    try:
        rate = float(text)
    except ValueError:
        raise ParseError("bad_value", f"r: {text[:40]!r} is not a decimal") from None
    if not math.isfinite(rate):
        raise ParseError("bad_value", f"r: {text!r} is not finite")
    return rate


class DepthUpdatePayload(Payload, tag="depthUpdate", gc=False):
    transaction_time: Millis = field(name="T")
    first_update_id: Int64 = field(name="U")
    final_update_id: Int64 = field(name="u")
    prev_final_update_id: Int64 = field(name="pu")
    bids: Levels = field(name="b")
    asks: Levels = field(name="a")

    def to_record(self) -> DepthUpdate:
        return DepthUpdate(
            symbol=self.symbol,
            event_time=self.event_time,
            transaction_time=self.transaction_time,
            first_update_id=self.first_update_id,
            final_update_id=self.final_update_id,
            prev_final_update_id=self.prev_final_update_id,
            bids=self.bids,
            asks=self.asks,
        )


class TickerPayload(Payload, tag="24hrTicker", gc=False):
    price_change: Finite = field(name="p")
    price_change_percent: Finite = field(name="P")
    weighted_avg_price: Amount = field(name="w")
    last_price: Price = field(name="c")
    last_quantity: Amount = field(name="Q")
    open_price: Amount = field(name="o")
    high_price: Amount = field(name="h")
    low_price: Amount = field(name="l")
    volume: Amount = field(name="v")
    quote_volume: Amount = field(name="q")
    open_time: Millis = field(name="O")
    close_time: Millis = field(name="C")
    first_trade_id: Int64 = field(name="F")
    last_trade_id: Int64 = field(name="L")
    trade_count: Int64 = field(name="n")

    def to_record(self) -> Ticker:
        if self.low_price > self.high_price:
            raise ParseError("bad_value", f"h: high {self.high_price} below low {self.low_price}")
        return Ticker(
            symbol=self.symbol,
            event_time=self.event_time,
            price_change=self.price_change,
            price_change_percent=self.price_change_percent,
            weighted_avg_price=self.weighted_avg_price,
            last_price=self.last_price,
            last_quantity=self.last_quantity,
            open_price=self.open_price,
            high_price=self.high_price,
            low_price=self.low_price,
            volume=self.volume,
            quote_volume=self.quote_volume,
            open_time=self.open_time,
            close_time=self.close_time,
            first_trade_id=self.first_trade_id,
            last_trade_id=self.last_trade_id,
            trade_count=self.trade_count,
        )


class BookTickerPayload(Payload, tag="bookTicker", gc=False):
    update_id: Int64 = field(name="u")
    transaction_time: Millis = field(name="T")
    bid_price: Amount = field(name="b")
    bid_quantity: Amount = field(name="B")
    ask_price: Amount = field(name="a")
    ask_quantity: Amount = field(name="A")

    def to_record(self) -> BookTicker:
        return BookTicker(
            symbol=self.symbol,
            update_id=self.update_id,
            event_time=self.event_time,
            transaction_time=self.transaction_time,
            bid_price=self.bid_price,
            bid_quantity=self.bid_quantity,
            ask_price=self.ask_price,
            ask_quantity=self.ask_quantity,
        )


AnyPayload = (
    AggTradePayload
    | TradePayload
    | KlinePayload
    | MarkPricePayload
    | DepthUpdatePayload
    | TickerPayload
    | BookTickerPayload
)


class Envelope(msgspec.Struct, gc=False):
    """Binance's combined-stream wrapper ``{"stream": ..., "data": {...}}``."""

    data: AnyPayload
    stream: str = ""
