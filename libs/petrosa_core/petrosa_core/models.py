"""Domain records: what every service works on once a frame or REST row is parsed.

Times are UTC epoch milliseconds (``int``); prices and quantities are float64 parsed
exactly as ``float(str)`` would. Each record knows its natural key and its time.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What the stores and checks need to know about one dataset kind, stated once."""

    kind: DatasetKind
    record_type: type[Record]
    # The field that orders the kind in time and bounds range queries.
    time_field: str
    # The field holding ``record.key``, the integer ``MarketStore.keys`` returns.
    key_field: str
    # The natural key beside ``symbol`` (and ``interval`` for candles).
    key_fields: tuple[str, ...]
    # The paging order: time, then key, then the rest of the natural key. Trade ids of the
    # two trade types overlap, so the type breaks the last tie ("agg" before "raw").
    order_fields: tuple[str, ...]
    # Fields holding epoch-millisecond times, stored as the database's timestamp type.
    time_fields: tuple[str, ...]


def _spec(record_type: type[Record], time_field: str, *key_fields: str) -> KindSpec:
    key_field = key_fields[-1]  # trades are keyed (trade_type, trade_id)
    order = tuple(dict.fromkeys((time_field, key_field, *key_fields)))
    times = tuple(n for n in record_type.__struct_fields__ if n.endswith("_time"))
    return KindSpec(record_type.kind, record_type, time_field, key_field, key_fields, order, times)


KIND_SPECS: dict[DatasetKind, KindSpec] = {
    spec.kind: spec
    for spec in (
        _spec(Candle, "open_time", "open_time"),
        _spec(Trade, "trade_time", "trade_type", "trade_id"),
        _spec(DepthUpdate, "event_time", "final_update_id"),
        _spec(MarkPrice, "event_time", "event_time"),
        _spec(FundingRate, "funding_time", "funding_time"),
        _spec(Ticker, "event_time", "event_time"),
        _spec(BookTicker, "event_time", "update_id"),
    )
}

# Views of the specs for callers that need one fact of every kind.
RECORD_TYPES: dict[DatasetKind, type[Record]] = {k: s.record_type for k, s in KIND_SPECS.items()}
TIME_FIELD: dict[DatasetKind, str] = {k: s.time_field for k, s in KIND_SPECS.items()}
KEY_FIELDS: dict[DatasetKind, tuple[str, ...]] = {k: s.key_fields for k, s in KIND_SPECS.items()}
