"""Recorded kline CSVs as domain records, shared by tests and benchmarks."""

from __future__ import annotations

import csv
from pathlib import Path

from petrosa_core.models import Candle

# Real Binance recordings the tests, the fake exchange and the benchmarks replay; they ship
# with the repository so a bare clone runs every test.
RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures"


def candle(symbol: str, interval: str, step: int, row: list[str]) -> Candle:
    """A closed candle from a CSV row ``open_time_ms,open,high,low,close,volume``.

    The CSV lacks the quote and taker fields; they are derived consistently here.
    """
    t = int(row[0])
    o, h, low, c, v = (float(x) for x in row[1:6])
    return Candle(
        symbol=symbol,
        interval=interval,
        open_time=t,
        close_time=t + step - 1,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=v,
        quote_volume=v * c,
        trade_count=100,
        taker_buy_base_volume=v / 2,
        taker_buy_quote_volume=v * c / 2,
        is_closed=True,
    )


def csv_rows(path: Path) -> list[list[str]]:
    with path.open() as f:
        return list(csv.reader(f))[1:]


def csv_candles(path: Path, symbol: str, interval: str, step: int) -> list[Candle]:
    return [candle(symbol, interval, step, row) for row in csv_rows(path)]
