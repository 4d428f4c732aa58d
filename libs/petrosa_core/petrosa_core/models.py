"""Domain records: what every service works on once a frame or REST row is parsed.

Times are UTC epoch milliseconds (``int``); prices and quantities are float64 parsed
exactly as ``float(str)`` would. Each record knows its natural key and its time.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

import msgspec

from petrosa_core.errors import ValidationError
from petrosa_core.intervals import check_interval
from petrosa_core.symbols import normalize_symbol

# 9999-12-31T23:59:59.999Z: the last instant every store's timestamp type can hold.
MAX_TIME_MS = 253_402_300_799_999


class DatasetKind(StrEnum):
    CANDLES = "candles"
    TRADES = "trades"
    DEPTH = "depth"
    MARK_PRICES = "mark_prices"
    FUNDING_RATES = "funding_rates"
    TICKERS = "tickers"
    BOOK_TICKERS = "book_tickers"


class DatasetId(msgspec.Struct, frozen=True):
    """One dataset: a kind, a symbol and, for candles only, an interval."""

    kind: DatasetKind
    symbol: str
    interval: str | None = None

    def __str__(self) -> str:
        base = f"{self.kind.value}:{self.symbol}"
        return f"{base}:{self.interval}" if self.interval else base

    @classmethod
    def parse(cls, text: str) -> DatasetId:
        """Read ``candles:BTCUSDT:1m`` or ``trades:BTCUSDT``; raise ``ValidationError``."""
        parts = text.split(":")
        if len(parts) > 3:
            raise ValidationError("bad_dataset_id", f"{text[:80]!r} has too many parts")
        try:
            kind = DatasetKind(parts[0])
        except ValueError:
            shown = f"{parts[0][:40]!r} in {text[:80]!r}"
            raise ValidationError("unknown_dataset_kind", shown) from None
        if len(parts) < 2 or not parts[1]:
            raise ValidationError("bad_dataset_id", f"{text[:80]!r} has no symbol")
        return cls.of(kind, parts[1], parts[2] if len(parts) > 2 else None)

    @classmethod
    def of(cls, kind: DatasetKind, symbol: str, interval: str | None = None) -> DatasetId:
        """Build a checked id: upper-case symbol, interval required for candles only."""
        symbol = normalize_symbol(symbol)
        if kind is DatasetKind.CANDLES:
            if interval is None:
                raise ValidationError("missing_interval", "candles need an interval")
            check_interval(interval)
        elif interval is not None:
            raise ValidationError("unexpected_interval", f"{kind.value} have no interval")
        return cls(kind, symbol, interval)


class Candle(msgspec.Struct, frozen=True, gc=False):
    kind: ClassVar[DatasetKind] = DatasetKind.CANDLES
    symbol: str
    interval: str
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float
    trade_count: int
    taker_buy_base_volume: float
    taker_buy_quote_volume: float
    is_closed: bool

    @property
    def time(self) -> int:
        return self.open_time

    @property
    def key(self) -> int:
        return self.open_time

    @property
    def dataset(self) -> DatasetId:
        return DatasetId(DatasetKind.CANDLES, self.symbol, self.interval)


class Trade(msgspec.Struct, frozen=True, gc=False):
    """An aggregate trade (``trade_type="agg"``) or a raw trade (``"raw"``)."""

    kind: ClassVar[DatasetKind] = DatasetKind.TRADES
    symbol: str
    trade_type: Literal["agg", "raw"]
    trade_id: int
    price: float
    quantity: float
    trade_time: int
    is_buyer_maker: bool
    event_time: int | None = None
    first_trade_id: int | None = None
    last_trade_id: int | None = None

    @property
    def time(self) -> int:
        return self.trade_time

    @property
    def key(self) -> int:
        return self.trade_id

    @property
    def dataset(self) -> DatasetId:
        return DatasetId(DatasetKind.TRADES, self.symbol)


class DepthUpdate(msgspec.Struct, frozen=True, gc=False):
    """A diff of the order book; ``prev_final_update_id`` must equal the previous ``u``."""

    kind: ClassVar[DatasetKind] = DatasetKind.DEPTH
    symbol: str
    event_time: int
    transaction_time: int
    first_update_id: int
    final_update_id: int
    prev_final_update_id: int
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]

    @property
    def time(self) -> int:
        return self.event_time

    @property
    def key(self) -> int:
        return self.final_update_id

    @property
    def dataset(self) -> DatasetId:
        return DatasetId(DatasetKind.DEPTH, self.symbol)


class MarkPrice(msgspec.Struct, frozen=True, gc=False):
    kind: ClassVar[DatasetKind] = DatasetKind.MARK_PRICES
    symbol: str
    event_time: int
    mark_price: float
    index_price: float
    estimated_settle_price: float
    funding_rate: float
    next_funding_time: int

    @property
    def time(self) -> int:
        return self.event_time

    @property
    def key(self) -> int:
        return self.event_time

    @property
    def dataset(self) -> DatasetId:
        return DatasetId(DatasetKind.MARK_PRICES, self.symbol)


class FundingRate(msgspec.Struct, frozen=True, gc=False):
    kind: ClassVar[DatasetKind] = DatasetKind.FUNDING_RATES
    symbol: str
    funding_time: int
    funding_rate: float
    mark_price: float | None = None

    @property
    def time(self) -> int:
        return self.funding_time

    @property
    def key(self) -> int:
        return self.funding_time

    @property
    def dataset(self) -> DatasetId:
        return DatasetId(DatasetKind.FUNDING_RATES, self.symbol)


class Ticker(msgspec.Struct, frozen=True, gc=False):
    """A 24-hour rolling-window ticker."""

    kind: ClassVar[DatasetKind] = DatasetKind.TICKERS
    symbol: str
    event_time: int
    price_change: float
    price_change_percent: float
    weighted_avg_price: float
    last_price: float
    last_quantity: float
    open_price: float
    high_price: float
    low_price: float
    volume: float
    quote_volume: float
    open_time: int
    close_time: int
    first_trade_id: int
    last_trade_id: int
    trade_count: int

    @property
    def time(self) -> int:
        return self.event_time

    @property
    def key(self) -> int:
        return self.event_time

    @property
    def dataset(self) -> DatasetId:
        return DatasetId(DatasetKind.TICKERS, self.symbol)


class BookTicker(msgspec.Struct, frozen=True, gc=False):
    kind: ClassVar[DatasetKind] = DatasetKind.BOOK_TICKERS
    symbol: str
    update_id: int
    event_time: int
    transaction_time: int
    bid_price: float
    bid_quantity: float
    ask_price: float
    ask_quantity: float

    @property
    def time(self) -> int:
        return self.event_time

    @property
    def key(self) -> int:
        return self.update_id

    @property
    def dataset(self) -> DatasetId:
        return DatasetId(DatasetKind.BOOK_TICKERS, self.symbol)


Record = Candle | Trade | DepthUpdate | MarkPrice | FundingRate | Ticker | BookTicker

RECORD_TYPES: dict[DatasetKind, type[Record]] = {
    DatasetKind.CANDLES: Candle,
    DatasetKind.TRADES: Trade,
    DatasetKind.DEPTH: DepthUpdate,
    DatasetKind.MARK_PRICES: MarkPrice,
    DatasetKind.FUNDING_RATES: FundingRate,
    DatasetKind.TICKERS: Ticker,
    DatasetKind.BOOK_TICKERS: BookTicker,
}

# Name of the field that orders each kind in time and bounds range queries.
TIME_FIELD: dict[DatasetKind, str] = {
    DatasetKind.CANDLES: "open_time",
    DatasetKind.TRADES: "trade_time",
    DatasetKind.DEPTH: "event_time",
    DatasetKind.MARK_PRICES: "event_time",
    DatasetKind.FUNDING_RATES: "funding_time",
    DatasetKind.TICKERS: "event_time",
    DatasetKind.BOOK_TICKERS: "event_time",
}

# Fields forming the natural key beside ``symbol`` (and ``interval`` for candles).
KEY_FIELDS: dict[DatasetKind, tuple[str, ...]] = {
    DatasetKind.CANDLES: ("open_time",),
    DatasetKind.TRADES: ("trade_type", "trade_id"),
    DatasetKind.DEPTH: ("final_update_id",),
    DatasetKind.MARK_PRICES: ("event_time",),
    DatasetKind.FUNDING_RATES: ("funding_time",),
    DatasetKind.TICKERS: ("event_time",),
    DatasetKind.BOOK_TICKERS: ("update_id",),
}
