"""Binance REST rows, decoded once by prebuilt decoders and turned into domain records.

Decimal strings are typed ``float``; the non-strict decoders read them exactly as
``float(s)`` would. msgspec errors become ``ParseError`` here and nowhere else.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from msgspec import field

from petrosa_core.errors import ParseError
from petrosa_core.models import Candle, FundingRate, Trade

T = TypeVar("T")


class KlineRow(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """``[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, ...]``."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time: int
    quote_volume: float
    trade_count: int
    taker_buy_base_volume: float
    taker_buy_quote_volume: float
    ignore: object = None

    def to_candle(self, symbol: str, interval: str, now: int) -> Candle:
        """The candle; closed only once its close time has passed at ``now``."""
        return Candle(
            symbol=symbol,
            interval=interval,
            open_time=self.open_time,
            close_time=self.close_time,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            quote_volume=self.quote_volume,
            trade_count=self.trade_count,
            taker_buy_base_volume=self.taker_buy_base_volume,
            taker_buy_quote_volume=self.taker_buy_quote_volume,
            is_closed=self.close_time < now,
        )


class FundingRow(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    funding_time: int = field(name="fundingTime")
    funding_rate: float = field(name="fundingRate")
    # Binance sends "" where it has no mark price (older events), so this stays text.
    mark_price: str = field(name="markPrice", default="")

    def to_record(self) -> FundingRate:
        return FundingRate(
            symbol=self.symbol,
            funding_time=self.funding_time,
            funding_rate=self.funding_rate,
            mark_price=float(self.mark_price) if self.mark_price else None,
        )


class AggTradeRow(msgspec.Struct, frozen=True, gc=False):
    agg_id: int = field(name="a")
    price: float = field(name="p")
    quantity: float = field(name="q")
    first_trade_id: int = field(name="f")
    last_trade_id: int = field(name="l")
    trade_time: int = field(name="T")
    is_buyer_maker: bool = field(name="m")

    def to_trade(self, symbol: str) -> Trade:
        return Trade(
            symbol=symbol,
            trade_type="agg",
            trade_id=self.agg_id,
            price=self.price,
            quantity=self.quantity,
            trade_time=self.trade_time,
            is_buyer_maker=self.is_buyer_maker,
            first_trade_id=self.first_trade_id,
            last_trade_id=self.last_trade_id,
        )


class OrderBookSnapshot(msgspec.Struct, frozen=True, gc=False):
    """``GET /fapi/v1/depth``: price-quantity levels, best first, as of ``last_update_id``."""

    last_update_id: int = field(name="lastUpdateId")
    event_time: int = field(name="E")
    transaction_time: int = field(name="T")
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]


class ErrorBody(msgspec.Struct, frozen=True, gc=False):
    code: int
    msg: str


KLINES = msgspec.json.Decoder(list[KlineRow], strict=False)
FUNDING = msgspec.json.Decoder(list[FundingRow], strict=False)
AGG_TRADES = msgspec.json.Decoder(list[AggTradeRow], strict=False)
ORDER_BOOK = msgspec.json.Decoder(OrderBookSnapshot, strict=False)
_ERROR = msgspec.json.Decoder(ErrorBody)


def decode(decoder: msgspec.json.Decoder[T], body: bytes, path: str) -> T:
    """Decode a 200 answer of ``path``; a body of the wrong shape raises ``ParseError``."""
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ParseError("bad_rest_payload", f"{path}: {exc}") from None


def error_body(body: bytes) -> tuple[int | None, str]:
    """Binance's ``{"code", "msg"}``; anything else keeps the start of the raw text."""
    try:
        error = _ERROR.decode(body)
    except msgspec.DecodeError:
        return None, body[:200].decode(errors="replace")
    return error.code, error.msg
