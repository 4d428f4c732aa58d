"""Closed candles of one dataset as numpy columns, and the window slicing every metric shares."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pyarrow

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MS_PER_YEAR = 365 * 86_400_000  # "bars per 365 days" in the annualised figures
FLOAT_COLUMNS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "taker_buy_base_volume",
    "taker_buy_quote_volume",
)
OPTIONAL_COLUMNS = frozenset(FLOAT_COLUMNS[4:]) | {"trade_count"}


@dataclass(frozen=True)
class Bars:
    """Closed candles of one dataset, ascending open_time, no duplicates."""

    interval_ms: int
    open_time: IntArray  # epoch ms
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    quote_volume: FloatArray
    taker_buy_base_volume: FloatArray
    taker_buy_quote_volume: FloatArray
    trade_count: IntArray

    def __post_init__(self) -> None:
        if self.interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, got {self.interval_ms}")
        n = self.open_time.shape[0]
        for f in fields(self)[1:]:
            column = getattr(self, f.name)
            if column.ndim != 1 or column.shape[0] != n:
                raise ValueError(f"column {f.name} has shape {column.shape}, expected ({n},)")
        if n > 1 and not bool(np.all(np.diff(self.open_time) > 0)):
            raise ValueError("open_time must be strictly ascending (sorted, no duplicates)")

    def __len__(self) -> int:
        return int(self.open_time.shape[0])

    @property
    def bars_per_year(self) -> float:
        return MS_PER_YEAR / self.interval_ms

    @classmethod
    def from_columns(cls, interval_ms: int, **columns: Any) -> Bars:
        """Build from arrays; prices are required, the volume-side columns may be left out.

        A left-out float column is NaN ("not recorded"), so a metric that needs it answers
        None with a reason instead of computing on invented zeros; a left-out trade count is 0.
        """
        unknown = set(columns) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)}")
        missing = {"open_time", "open", "high", "low", "close"} - set(columns)
        if missing:
            raise ValueError(f"missing columns {sorted(missing)}")
        open_time = np.ascontiguousarray(columns["open_time"], dtype=np.int64)
        built: dict[str, Any] = {"open_time": open_time}
        for name in FLOAT_COLUMNS:
            given = columns.get(name)
            built[name] = (
                np.full(open_time.shape[0], np.nan)
                if given is None
                else np.ascontiguousarray(given, dtype=np.float64)
            )
        count = columns.get("trade_count")
        built["trade_count"] = (
            np.zeros(open_time.shape[0], dtype=np.int64)
            if count is None
            else np.ascontiguousarray(count, dtype=np.int64)
        )
        return cls(interval_ms=int(interval_ms), **built)

    @classmethod
    def from_arrow(cls, table: pyarrow.Table, interval_ms: int) -> Bars:
        """Build from a table with the Candle record's column names; open candles are dropped."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if "is_closed" in table.column_names:
            table = table.filter(pc.fill_null(pc.equal(table["is_closed"], True), False))
        columns: dict[str, Any] = {}
        for name in ("open_time", *FLOAT_COLUMNS, "trade_count"):
            if name not in table.column_names:
                continue
            column = table[name]
            if pa.types.is_timestamp(column.type):
                column = pc.cast(pc.cast(column, pa.timestamp("ms", tz="UTC")), pa.int64())
            if name in ("open_time", "trade_count"):
                column = pc.fill_null(column, 0)
            columns[name] = column.to_numpy()
        return cls.from_columns(interval_ms, **columns)

    def tail(self, count: int) -> Bars:
        """The last ``count`` bars (all when fewer)."""
        start = max(len(self) - count, 0)
        return Bars(
            self.interval_ms,
            *(getattr(self, f.name)[start:] for f in fields(self)[1:]),
        )

    def adjacent(self) -> BoolArray:
        """For each bar after the first: whether its predecessor is exactly one interval before."""
        out: BoolArray = np.diff(self.open_time) == self.interval_ms
        return out


def completeness(bars: Bars, requested: int) -> float:
    """Bars present over the larger of the bars asked for and the slots their time span covers."""
    n = len(bars)
    if n == 0:
        return 0.0
    span = int((bars.open_time[-1] - bars.open_time[0]) // bars.interval_ms) + 1
    return n / max(requested, span)


def adjacent_log_returns(bars: Bars) -> tuple[FloatArray, IntArray]:
    """Log close-to-close returns between consecutive bars only, with the later bar's open time.

    A return across a missing bar would span several intervals, so it is dropped, never filled.
    """
    keep = bars.adjacent()
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.diff(np.log(bars.close))[keep]
    return returns, bars.open_time[1:][keep]
