"""Validity: values no real market produces, per record; each problem has a stable name.

Candles take a fast path: one vectorised test clears the sound candles of a whole
table, and only a candle that fails it is examined rule by rule. NaN fails every
comparison, so it is always examined and always reported.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from petrosa_auditor.columns import Bools, CandleColumns, Floats
from petrosa_auditor.findings import Runs
from petrosa_core.intervals import FIXED_INTERVAL_MS, close_time, is_aligned
from petrosa_core.market.columns import table_records
from petrosa_core.models import (
    BookTicker,
    Candle,
    DatasetKind,
    DepthUpdate,
    FundingRate,
    MarkPrice,
    Record,
    Ticker,
    Trade,
)

if TYPE_CHECKING:
    import pyarrow as pa

# A funding rate is capped by Binance at a few percent; 1 (100 %) is plainly corrupt.
MAX_FUNDING_RATE = 1.0


def candle_problems(c: Candle) -> list[str]:
    """Every rule ``c`` breaks, by name; empty for a sound candle."""
    problems = []
    prices = (c.open, c.high, c.low, c.close)
    if not all(p > 0 for p in prices):
        problems.append("price_not_positive")
    if not c.low <= min(c.open, c.close):
        problems.append("low_above_open_or_close")
    if not max(c.open, c.close) <= c.high:
        problems.append("high_below_open_or_close")
    volumes = (c.volume, c.quote_volume, c.taker_buy_base_volume, c.taker_buy_quote_volume)
    if not (all(v >= 0 for v in volumes) and c.trade_count >= 0):
        problems.append("negative_volume")
    if c.taker_buy_base_volume > c.volume or c.taker_buy_quote_volume > c.quote_volume:
        problems.append("taker_volume_above_volume")
    if not is_aligned(c.open_time, c.interval):
        problems.append("open_time_off_grid")
    elif c.close_time != close_time(c.open_time, c.interval):
        problems.append("wrong_close_time")
    return problems


def scan_candles(candles: CandleColumns, interval: str, runs: Runs, position: int) -> None:
    """Flag the unsound candles of one table; ``position`` numbers its first candle.

    The fast test clears sound candles a column at a time; each candle that fails it is
    examined rule by rule. Weeks start on Mondays and months vary: those fail the grid
    test and are always examined.
    """
    step = None if interval == "1w" else FIXED_INTERVAL_MS.get(interval)
    grid, span = (step, step - 1) if step is not None else (1, -1)
    c = candles
    with np.errstate(invalid="ignore"):
        sound = (
            (0.0 < c.low)
            & (c.low <= c.open)
            & (c.open <= c.high)
            & (c.high >= c.close)
            & (c.close >= c.low)
            & (0.0 <= c.taker_buy_base_volume)
            & (c.taker_buy_base_volume <= c.volume)
            & (0.0 <= c.taker_buy_quote_volume)
            & (c.taker_buy_quote_volume <= c.quote_volume)
            & (c.close_time - c.open_time == span)
            & (c.open_time % grid == 0)
            & (c.trade_count >= 0)
        )
    for i in np.flatnonzero(~sound).tolist():
        candle = candles.candle(i)
        if problems := candle_problems(candle):
            runs.flag(position + i, candle.open_time, problems)


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _trade(t: Trade) -> list[str]:
    return [] if t.price > 0 and t.quantity >= 0 and _finite(t.price) else ["price_not_positive"]


def _depth(d: DepthUpdate) -> list[str]:
    problems = []
    if d.final_update_id < d.first_update_id:
        problems.append("update_ids_reversed")
    levels = (*d.bids, *d.asks)
    if not all(price > 0 and qty >= 0 for price, qty in levels):
        problems.append("bad_price_level")
    return problems


def _mark(m: MarkPrice) -> list[str]:
    return [] if m.mark_price > 0 and m.index_price > 0 else ["price_not_positive"]


def _funding(f: FundingRate) -> list[str]:
    sane = _finite(f.funding_rate) and abs(f.funding_rate) < MAX_FUNDING_RATE
    return [] if sane else ["funding_rate_out_of_range"]


def _ticker(t: Ticker) -> list[str]:
    problems = []
    if not (t.last_price > 0 and t.low_price > 0):
        problems.append("price_not_positive")
    if not t.low_price <= t.high_price:
        problems.append("low_above_high")
    if not (t.volume >= 0 and t.quote_volume >= 0):
        problems.append("negative_volume")
    return problems


def _book(b: BookTicker) -> list[str]:
    problems = []
    if not (b.bid_price > 0 and b.ask_price > 0):
        problems.append("price_not_positive")
    elif b.bid_price > b.ask_price:
        problems.append("crossed_book")
    if not (b.bid_quantity >= 0 and b.ask_quantity >= 0):
        problems.append("negative_quantity")
    return problems


_RULES: dict[type, Callable[[Any], list[str]]] = {
    Trade: _trade,
    DepthUpdate: _depth,
    MarkPrice: _mark,
    FundingRate: _funding,
    Ticker: _ticker,
    BookTicker: _book,
    Candle: candle_problems,
}


def _depth_sound(table: pa.Table) -> Bools:
    """Rows whose update ids are in order and whose every level is a positive price."""
    import pyarrow.compute as pc

    sound = np.asarray(
        pc.greater_equal(table.column("final_update_id"), table.column("first_update_id"))
    )
    for side in ("bids", "asks"):
        levels = pc.list_flatten(table.column(side))
        values = pc.list_flatten(levels)
        if len(values) != 2 * len(levels):
            return np.zeros(table.num_rows, dtype=bool)  # odd levels: every row examined
        pairs = np.asarray(values, dtype=np.float64).reshape(-1, 2)
        with np.errstate(invalid="ignore"):
            bad_level = ~((pairs[:, 0] > 0) & (pairs[:, 1] >= 0))
        rows = np.asarray(pc.list_parent_indices(table.column(side)), dtype=np.int64)
        sound[np.unique(rows[bad_level])] = False
    return np.asarray(sound, dtype=bool)


def _column(table: pa.Table, name: str) -> Floats:
    return np.asarray(table.column(name).to_numpy(), dtype=np.float64)


def _stream_sound(kind: DatasetKind, table: pa.Table) -> Bools:
    """A vectorised pre-test per kind that passes only rows ``record_problems`` would pass."""
    c = functools.partial(_column, table)
    with np.errstate(invalid="ignore"):
        if kind is DatasetKind.TRADES:
            return (c("price") > 0) & (c("quantity") >= 0) & np.isfinite(c("price"))
        if kind is DatasetKind.MARK_PRICES:
            return (c("mark_price") > 0) & (c("index_price") > 0)
        if kind is DatasetKind.FUNDING_RATES:
            rate = c("funding_rate")
            return np.isfinite(rate) & (np.abs(rate) < MAX_FUNDING_RATE)
        if kind is DatasetKind.TICKERS:
            low = c("low_price")
            return (
                (c("last_price") > 0)
                & (low > 0)
                & (low <= c("high_price"))
                & (c("volume") >= 0)
                & (c("quote_volume") >= 0)
            )
        if kind is DatasetKind.BOOK_TICKERS:
            bid, ask = c("bid_price"), c("ask_price")
            return (
                (bid > 0)
                & (ask > 0)
                & (bid <= ask)
                & (c("bid_quantity") >= 0)
                & (c("ask_quantity") >= 0)
            )
        if kind is DatasetKind.DEPTH:
            return _depth_sound(table)
    return np.zeros(table.num_rows, dtype=bool)


def scan_table(kind: DatasetKind, table: pa.Table, runs: Runs, position: int) -> None:
    """Flag the unsound records of one table of any event kind.

    Rows that pass the vectorised pre-test are sound; each other row becomes a record and
    is judged by ``record_problems``, the rules' one definition.
    """
    suspects = np.flatnonzero(~_stream_sound(kind, table)).tolist()
    if not suspects:
        return
    for i, record in zip(suspects, table_records(kind, table, suspects), strict=True):
        if problems := record_problems(record):
            runs.flag(position + i, record.time, problems)


def record_problems(record: Record) -> list[str]:
    """Every rule ``record`` breaks, by name, for any kind of record."""
    return _RULES[type(record)](record)
