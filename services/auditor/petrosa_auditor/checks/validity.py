"""Validity: values no real market produces, per record; each problem has a stable name.

Candles take a fast path: one vectorised test clears the sound candles of a whole
table, and only a candle that fails it is examined rule by rule. NaN fails every
comparison, so it is always examined and always reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from petrosa_auditor.columns import CandleColumns
from petrosa_auditor.findings import Runs
from petrosa_core.intervals import FIXED_INTERVAL_MS, close_time, is_aligned
from petrosa_core.models import (
    BookTicker,
    Candle,
    DepthUpdate,
    FundingRate,
    MarkPrice,
    Record,
    Ticker,
    Trade,
)

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


def record_problems(record: Record) -> list[str]:
    """Every rule ``record`` breaks, by name, for any kind of record."""
    return _RULES[type(record)](record)


def scan_records(records: Sequence[Record], runs: Runs, position: int) -> None:
    """Flag the unsound records of one page of any kind."""
    for i, record in enumerate(records):
        if problems := record_problems(record):
            runs.flag(position + i, record.time, problems)
