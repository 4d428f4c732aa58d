"""Candles as numpy columns, straight from the store's Arrow scan.

The checks run on whole columns and build a ``Candle`` only for the few rows they report,
so an audit never pays for a Python object per stored candle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from petrosa_core.models import Candle

if TYPE_CHECKING:
    import pyarrow as pa

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

_FLOATS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "taker_buy_base_volume",
    "taker_buy_quote_volume",
)


@dataclass(frozen=True)
class CandleColumns:
    """One table of candles of one dataset, column by column, in the store's order."""

    symbol: str
    interval: str
    open_time: Ints
    close_time: Ints
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats
    quote_volume: Floats
    trade_count: Ints
    taker_buy_base_volume: Floats
    taker_buy_quote_volume: Floats
    is_closed: Bools

    @classmethod
    def of(cls, table: pa.Table, symbol: str, interval: str) -> CandleColumns:
        """The columns of a candle table of ``MarketStore.scan`` (times as epoch ms)."""
        import pyarrow as pa

        def ints(name: str) -> Ints:
            return np.asarray(table.column(name).cast(pa.int64()).to_numpy(), dtype=np.int64)

        floats = {
            name: np.asarray(table.column(name).to_numpy(), dtype=np.float64) for name in _FLOATS
        }
        closed = np.asarray(table.column("is_closed").to_numpy(zero_copy_only=False), dtype=bool)
        return cls(
            symbol=symbol,
            interval=interval,
            open_time=ints("open_time"),
            close_time=ints("close_time"),
            trade_count=ints("trade_count"),
            is_closed=closed,
            **floats,
        )

    def __len__(self) -> int:
        return len(self.open_time)

    def candle(self, i: int) -> Candle:
        """Row ``i`` as a record, for a finding or a comparison."""
        return Candle(
            symbol=self.symbol,
            interval=self.interval,
            open_time=int(self.open_time[i]),
            close_time=int(self.close_time[i]),
            open=float(self.open[i]),
            high=float(self.high[i]),
            low=float(self.low[i]),
            close=float(self.close[i]),
            volume=float(self.volume[i]),
            quote_volume=float(self.quote_volume[i]),
            trade_count=int(self.trade_count[i]),
            taker_buy_base_volume=float(self.taker_buy_base_volume[i]),
            taker_buy_quote_volume=float(self.taker_buy_quote_volume[i]),
            is_closed=bool(self.is_closed[i]),
        )
