"""Binance kline intervals and grid arithmetic on UTC epoch milliseconds.

Fixed intervals are multiples of a minute aligned to the Unix epoch, except ``1w``,
which Binance aligns to Monday 00:00 UTC. ``1M`` is the calendar month.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from petrosa_core.errors import ValidationError

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday; Binance weeks open on Monday, four days later.
_WEEK_OFFSET_MS = 4 * DAY_MS

FIXED_INTERVAL_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": WEEK_MS,
}
INTERVALS: tuple[str, ...] = (*FIXED_INTERVAL_MS, "1M")


def check_interval(interval: str) -> str:
    """Return ``interval`` if Binance knows it, else raise ``ValidationError``."""
    if interval not in FIXED_INTERVAL_MS and interval != "1M":
        shown = interval if len(interval) <= 40 else f"{interval[:37]}..."  # bound the echo
        raise ValidationError("unknown_interval", f"{shown!r} is not one of {INTERVALS}")
    return interval


def interval_ms(interval: str) -> int:
    """Length of a fixed interval in ms; ``1M`` has none and raises ``ValidationError``."""
    try:
        return FIXED_INTERVAL_MS[interval]
    except KeyError:
        check_interval(interval)
        raise ValidationError("variable_interval", "1M has no fixed length") from None


def _month_index(ms: int) -> int:
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.year * 12 + dt.month - 1


def _month_start(index: int) -> int:
    year, month0 = divmod(index, 12)
    return int(datetime(year, month0 + 1, 1, tzinfo=UTC).timestamp()) * 1000


def align(ms: int, interval: str) -> int:
    """Open time of the candle of ``interval`` that contains ``ms``."""
    if interval == "1M":
        return _month_start(_month_index(ms))
    step = interval_ms(interval)
    offset = _WEEK_OFFSET_MS if interval == "1w" else 0
    return (ms - offset) // step * step + offset


def next_open(open_time: int, interval: str) -> int:
    """Open time of the candle after the one containing ``open_time``."""
    if interval == "1M":
        return _month_start(_month_index(open_time) + 1)
    return align(open_time, interval) + interval_ms(interval)


def close_time(open_time: int, interval: str) -> int:
    """Binance's close time: one millisecond before the next candle opens."""
    return next_open(open_time, interval) - 1


def is_aligned(ms: int, interval: str) -> bool:
    """Whether ``ms`` is an open time on the grid of ``interval``."""
    return align(ms, interval) == ms


def open_times(start: int, end: int, interval: str) -> Iterator[int]:
    """Expected open times of candles opening in ``[start, end)``, in order."""
    t = align(start, interval)
    if t < start:
        t = next_open(t, interval)
    while t < end:
        yield t
        t = next_open(t, interval)


def count_open_times(start: int, end: int, interval: str) -> int:
    """How many candles open in ``[start, end)``, without iterating fixed intervals."""
    if end <= start:
        return 0
    if interval == "1M":
        return sum(1 for _ in open_times(start, end, interval))
    step = interval_ms(interval)
    first = align(start, interval)
    if first < start:
        first += step
    return max(0, (end - first + step - 1) // step)
