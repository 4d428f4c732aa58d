"""Closed candles of one dataset as numpy columns, and the window slicing every metric shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
COLUMNS = ("open_time", *FLOAT_COLUMNS, "trade_count")
# A tail shorter than this share of its dataset computes its own logs rather than the whole
# dataset's: the engine's usual 20-bar window of a million-bar history must not pay for 1M logs.
SHARED_DERIVED_SHARE = 0.25


@dataclass(frozen=True, eq=False)  # arrays have no single truth value: equality is identity
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
    # Log prices and adjacency of the whole dataset, computed once and shared by its tails.
    _derived: _Derived = field(init=False, repr=False, compare=False)
    _offset: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, got {self.interval_ms}")
        n = self.open_time.shape[0]
        for name in COLUMNS:
            column = getattr(self, name)
            if column.ndim != 1 or column.shape[0] != n:
                raise ValueError(f"column {name} has shape {column.shape}, expected ({n},)")
        if n > 1 and not bool(np.all(self.open_time[1:] > self.open_time[:-1])):
            raise ValueError("open_time must be strictly ascending (sorted, no duplicates)")
        object.__setattr__(self, "_derived", _Derived(self))

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
        unknown = set(columns) - set(COLUMNS)
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

        columns: dict[str, Any] = {}
        for name in COLUMNS:
            if name not in table.column_names:
                continue
            column = table[name]
            if pa.types.is_timestamp(column.type):
                column = pc.cast(pc.cast(column, pa.timestamp("ms", tz="UTC")), pa.int64())
            if name in ("open_time", "trade_count") and column.null_count:
                column = pc.fill_null(column, 0)
            columns[name] = column.to_numpy()
        if "is_closed" in table.column_names:
            # Masking the numpy columns costs a tenth of filtering the Arrow table.
            # SQL backends may hand the flag over as 0/1 integers: as booleans it masks rows,
            # as integers it would pick rows 0 and 1.
            is_closed = pc.cast(table["is_closed"], pa.bool_())
            if is_closed.null_count:
                is_closed = pc.fill_null(is_closed, False)
            closed = np.asarray(is_closed.to_numpy(), dtype=np.bool_)
            if not closed.all():
                columns = {name: values[closed] for name, values in columns.items()}
        return cls.from_columns(interval_ms, **columns)

    def tail(self, count: int) -> Bars:
        """The last ``count`` bars (all when fewer)."""
        n = self.open_time.shape[0]
        start = max(n - count, 0)
        # Methods of one family mostly ask for the same few tails: each is built once.
        key = (self._offset + start, self._offset + n)
        known = self._derived.tails.get(key)
        if known is not None:
            return known
        # A slice of valid bars is valid: built without re-checking a million timestamps.
        part = object.__new__(Bars)
        object.__setattr__(part, "interval_ms", self.interval_ms)
        for name in COLUMNS:
            object.__setattr__(part, name, getattr(self, name)[start:])
        object.__setattr__(part, "_derived", self._derived)
        object.__setattr__(part, "_offset", self._offset + start)
        self._derived.tails[key] = part
        return part

    def adjacent(self) -> BoolArray:
        """For each bar after the first: whether its predecessor is exactly one interval before."""
        return self._derived.slice(self, "adjacent")

    @property
    def log_open(self) -> FloatArray:
        return self._derived.slice(self, "log_open")

    @property
    def log_high(self) -> FloatArray:
        return self._derived.slice(self, "log_high")

    @property
    def log_low(self) -> FloatArray:
        return self._derived.slice(self, "log_low")

    @property
    def log_close(self) -> FloatArray:
        return self._derived.slice(self, "log_close")


def _log(column: str) -> Callable[[Bars], npt.NDArray[Any]]:
    def compute(bars: Bars) -> npt.NDArray[Any]:
        values: FloatArray = getattr(bars, column)
        return np.log(values)  # callers run under np.errstate: a bad price is their null

    return compute


_DERIVED: dict[str, Callable[[Bars], npt.NDArray[Any]]] = {
    "adjacent": lambda bars: np.diff(bars.open_time) == bars.interval_ms,
    "log_open": _log("open"),
    "log_high": _log("high"),
    "log_low": _log("low"),
    "log_close": _log("close"),
}


class _Derived:
    """Arrays derived from a whole dataset, computed on first use and sliced for each tail."""

    def __init__(self, root: Bars) -> None:
        self.root = root
        self.size = root.open_time.shape[0]
        self.arrays: dict[str, npt.NDArray[Any]] = {}
        self.tails: dict[tuple[int, int], Bars] = {}
        self.pieces: dict[tuple[str, int, int], npt.NDArray[Any]] = {}

    def slice(self, bars: Bars, name: str) -> npt.NDArray[Any]:
        n = bars.open_time.shape[0]
        if n < SHARED_DERIVED_SHARE * self.size:
            # A short tail keeps its own copy, for the other methods reading the same tail.
            key = (name, bars._offset, n)
            own = self.pieces.get(key)
            if own is None:
                own = self.pieces[key] = _DERIVED[name](bars)
            return own
        full = self.arrays.get(name)
        if full is None:
            full = self.arrays[name] = _DERIVED[name](self.root)
        # "adjacent" has one entry per consecutive pair: n - 1 of them for n bars.
        end = bars._offset + n - (1 if name == "adjacent" else 0)
        return full[bars._offset : max(end, bars._offset)]


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
    return np.diff(bars.log_close)[keep], bars.open_time[1:][keep]
