"""What the fake exchange serves: recorded candles and funding, and generated rows.

Generated rows are pure functions of (symbol, interval, time) or (symbol, id), so a test
can compute the expected dataset without asking the exchange. Interval arithmetic is
written here again on purpose: the fake must not share a bug with the code it checks.
"""

from __future__ import annotations

import bisect
import csv
import functools
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from petrosa_core.models import Candle
from tests.harness.recorded import RECORDINGS

DEFAULT_DATA_DIR = RECORDINGS

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
FUNDING_PERIOD_MS = 8 * HOUR_MS
AGG_TRADE_SPACING_MS = 100
# Generated symbols list at an hour inside January 2021, spread by a hash of the name.
LISTING_EPOCH_MS = 1_609_459_200_000
LISTING_SPREAD_HOURS = 720

_STEP_MS = {
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
    "1w": 7 * DAY_MS,
}
INTERVALS = frozenset({*_STEP_MS, "1M"})
_MONDAY_OFFSET_MS = 4 * DAY_MS

REAL_KLINE_FILES = {
    ("XRPUSDT", "5m"): "xrpusdt_perp_5m_klines.csv",
    ("XRPUSDT", "1h"): "xrpusdt_perp_1h_klines.csv",
    ("XRPETH", "1m"): "xrpeth_spot_1m_klines_with_gaps.csv",
}
REAL_FUNDING_FILES = {"XRPUSDT": "xrpusdt_perp_funding_rates.csv"}

_Q8 = Decimal("0.00000001")

Row = list[Any]
Obj = dict[str, Any]


def floor_open(ms: int, interval: str) -> int:
    """Open time of the candle of ``interval`` containing ``ms``."""
    if interval == "1M":
        dt = datetime.fromtimestamp(ms / 1000, UTC)
        return int(datetime(dt.year, dt.month, 1, tzinfo=UTC).timestamp()) * 1000
    step = _STEP_MS[interval]
    offset = _MONDAY_OFFSET_MS if interval == "1w" else 0
    return (ms - offset) // step * step + offset


def following_open(open_time: int, interval: str) -> int:
    """Open time of the candle after the one opening at ``open_time``."""
    if interval == "1M":
        dt = datetime.fromtimestamp(open_time / 1000, UTC)
        year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
        return int(datetime(year, month, 1, tzinfo=UTC).timestamp()) * 1000
    return open_time + _STEP_MS[interval]


def ceil_open(ms: int, interval: str) -> int:
    """First open time at or after ``ms``."""
    t = floor_open(ms, interval)
    return t if t >= ms else following_open(t, interval)


def _hash(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def _decimal_text(value: Decimal) -> str:
    return format(value.quantize(_Q8), "f")


def _price(ticks: int) -> str:
    return f"{ticks // 100}.{ticks % 100:02d}"


def _quantity(thousandths: int) -> str:
    return f"{thousandths // 1000}.{thousandths % 1000:03d}"


def listing_time(symbol: str) -> int:
    """When a generated symbol starts trading: an hour in January 2021."""
    return LISTING_EPOCH_MS + _hash("listing", symbol) % LISTING_SPREAD_HOURS * HOUR_MS


def base_ticks(symbol: str) -> int:
    """A generated symbol's reference price in cents (20.00 to 999.99)."""
    return 2000 + _hash("base", symbol) % 98_000


def derive_kline(open_time: int, interval: str, o: str, h: str, low: str, c: str, v: str) -> Row:
    """The 12-field REST kline row, deriving what the CSVs lack from what they have."""
    volume = Decimal(v)
    quote = volume * (Decimal(o) + Decimal(c)) / 2
    close_time = following_open(open_time, interval) - 1
    trades = 1 + int(volume) % 4999
    return [
        open_time,
        o,
        h,
        low,
        c,
        v,
        close_time,
        _decimal_text(quote),
        trades,
        _decimal_text(volume / 2),
        _decimal_text(quote / 2),
        "0",
    ]


def _e8(units: int) -> str:
    return f"{units // 10**8}.{units % 10**8:08d}"


def generated_kline(symbol: str, interval: str, open_time: int) -> Row:
    """A generated candle: a pure function of its symbol, interval and open time.

    Same derivation as ``derive_kline``, in integers (cents, thousandths, 1e-8) for speed.
    """
    base, h = base_ticks(symbol), _hash("kline", symbol, interval, open_time)
    o = base + h % 2001 - 1000
    c = base + (h >> 11) % 2001 - 1000
    high = max(o, c) + (h >> 22) % 50
    low = min(o, c) - (h >> 5) % 50
    volume = 1000 + _hash("volume", symbol, interval, open_time) % 10_000_000
    quote_e8 = volume * (o + c) * 500  # volume/1e3 * (o + c)/1e2 / 2, in 1e-8 units
    return [
        open_time,
        _price(o),
        _price(high),
        _price(low),
        _price(c),
        _quantity(volume),
        following_open(open_time, interval) - 1,
        _e8(quote_e8),
        1 + volume // 1000 % 4999,
        _e8(volume * 50_000),
        _e8(quote_e8 // 2),
        "0",
    ]


def generated_funding(symbol: str, boundary: int) -> Obj:
    """The funding event of the 8-hour ``boundary``, with Binance-like millisecond jitter."""
    h = _hash("funding", symbol, boundary)
    rate = Decimal(h % 201 - 100).scaleb(-6)
    mark = Decimal(base_ticks(symbol) + (h >> 9) % 2001 - 1000).scaleb(-2)
    return {
        "symbol": symbol,
        "fundingTime": boundary + (h >> 20) % 20,
        "fundingRate": _decimal_text(rate),
        "markPrice": _decimal_text(mark),
    }


def agg_trade_time(symbol: str, agg_id: int) -> int:
    """Trade time of aggregate trade ``agg_id``: one per 100 ms slot from listing."""
    slot = listing_time(symbol) + AGG_TRADE_SPACING_MS * agg_id
    return slot + _hash("trade-time", symbol, agg_id) % AGG_TRADE_SPACING_MS


def first_agg_id_at(symbol: str, ms: int) -> int:
    """The first aggregate id whose trade time is at or after ``ms``."""
    k = max(0, (ms - listing_time(symbol)) // AGG_TRADE_SPACING_MS)
    return k if agg_trade_time(symbol, k) >= ms else k + 1


def last_agg_id_at(symbol: str, ms: int) -> int:
    """The last aggregate id whose trade time is at or before ``ms``; -1 if none."""
    k = (ms - listing_time(symbol)) // AGG_TRADE_SPACING_MS
    if k < 0:
        return -1
    return k if agg_trade_time(symbol, k) <= ms else k - 1


def generated_agg_trade(symbol: str, agg_id: int) -> Obj:
    """Aggregate trade ``agg_id``; ids are contiguous and raw trade ids chain on."""
    h = _hash("agg", symbol, agg_id)
    return {
        "a": agg_id,
        "p": _price(base_ticks(symbol) + h % 201 - 100),
        "q": _quantity(1 + (h >> 8) % 100_000),
        "f": 2 * agg_id,
        "l": 2 * agg_id + 1,
        "T": agg_trade_time(symbol, agg_id),
        "m": bool(h >> 31),
    }


def generated_depth(symbol: str, limit: int, now_ms: int) -> Obj:
    """An order book snapshot of ``limit`` levels a side around the reference price."""
    base = base_ticks(symbol)
    bids = [
        [_price(base - 1 - i), _quantity(1000 + _hash("b", symbol, i) % 9000)] for i in range(limit)
    ]
    asks = [
        [_price(base + 1 + i), _quantity(1000 + _hash("a", symbol, i) % 9000)] for i in range(limit)
    ]
    return {"lastUpdateId": now_ms, "E": now_ms, "T": now_ms, "bids": bids, "asks": asks}


def read_kline_csv(path: Path, interval: str) -> list[Row]:
    """Full REST rows from ``open_time_ms,open,high,low,close,volume``, strings kept verbatim."""
    with path.open(newline="") as f:
        return [
            derive_kline(
                int(r["open_time_ms"]),
                interval,
                r["open"],
                r["high"],
                r["low"],
                r["close"],
                r["volume"],
            )
            for r in csv.DictReader(f)
        ]


def read_funding_csv(path: Path, symbol: str) -> list[Obj]:
    """REST funding rows; the recording has no mark price, which Binance sends as ``""``."""
    with path.open(newline="") as f:
        return [
            {
                "symbol": symbol,
                "fundingTime": int(r["funding_time_ms"]),
                "fundingRate": r["funding_rate"],
                "markPrice": "",
            }
            for r in csv.DictReader(f)
        ]


def _select(
    times: list[int], rows: list[Any], start: int | None, end: int | None, limit: int
) -> list[Any]:
    """Binance's window rule: from ``start`` forwards, else the latest up to ``end``."""
    hi = bisect.bisect_right(times, end) if end is not None else len(times)
    if start is None:
        return rows[max(0, hi - limit) : hi]
    lo = bisect.bisect_left(times, start)
    return rows[lo : min(hi, lo + limit)]


RecordedKlines = dict[tuple[str, str], tuple[list[int], list[Row]]]
RecordedFunding = dict[str, tuple[list[int], list[Obj]]]


@functools.lru_cache(maxsize=4)
def load_recorded(data_dir: Path) -> tuple[RecordedKlines, RecordedFunding]:
    """The recorded files under ``data_dir``, parsed once per process; never mutate them."""
    klines: RecordedKlines = {}
    for (symbol, interval), name in REAL_KLINE_FILES.items():
        if (data_dir / name).is_file():
            rows = read_kline_csv(data_dir / name, interval)
            klines[symbol, interval] = ([r[0] for r in rows], rows)
    funding: RecordedFunding = {}
    for symbol, name in REAL_FUNDING_FILES.items():
        if (data_dir / name).is_file():
            events = read_funding_csv(data_dir / name, symbol)
            funding[symbol] = ([e["fundingTime"] for e in events], events)
    return klines, funding


class MarketData:
    """Rows for the fake's endpoints; recorded where a file exists, generated elsewhere."""

    def __init__(self, data_dir: Path = DEFAULT_DATA_DIR) -> None:
        self._klines, self._funding = load_recorded(data_dir.resolve())

    def klines(
        self, symbol: str, interval: str, start: int | None, end: int | None, limit: int, now: int
    ) -> list[Row]:
        real = self._klines.get((symbol, interval))
        if real is not None:
            return _select(real[0], real[1], start, end, limit)
        first = floor_open(listing_time(symbol), interval)
        last = min(floor_open(now, interval), end if end is not None else now)
        times = list(_open_times(first, last, interval, start, limit))
        return [generated_kline(symbol, interval, t) for t in times]

    def funding(
        self, symbol: str, start: int | None, end: int | None, limit: int, now: int
    ) -> list[Obj]:
        real = self._funding.get(symbol)
        if real is not None:
            return _select(real[0], real[1], start, end, limit)
        lo = start if start is not None else 0
        hi = min(end if end is not None else now, now)
        first = -(-listing_time(symbol) // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS
        boundary = max(first, lo // FUNDING_PERIOD_MS * FUNDING_PERIOD_MS)
        events: list[Obj] = []
        while boundary <= hi and not (start is not None and len(events) == limit):
            event = generated_funding(symbol, boundary)
            if lo <= event["fundingTime"] <= hi:
                events.append(event)
            boundary += FUNDING_PERIOD_MS
        return events[:limit] if start is not None else events[-limit:]

    def agg_trades_from(self, symbol: str, from_id: int, limit: int, now: int) -> list[Obj]:
        last = min(from_id + limit - 1, last_agg_id_at(symbol, now))
        return [generated_agg_trade(symbol, a) for a in range(max(0, from_id), last + 1)]

    def agg_trades_between(
        self, symbol: str, start: int, end: int, limit: int, now: int
    ) -> list[Obj]:
        first = first_agg_id_at(symbol, start)
        last = min(last_agg_id_at(symbol, min(end, now)), first + limit - 1)
        return [generated_agg_trade(symbol, a) for a in range(first, last + 1)]

    def latest_agg_trades(self, symbol: str, limit: int, now: int) -> list[Obj]:
        last = last_agg_id_at(symbol, now)
        return [generated_agg_trade(symbol, a) for a in range(max(0, last - limit + 1), last + 1)]


def _open_times(
    first: int, last: int, interval: str, start: int | None, limit: int
) -> Iterator[int]:
    """Up to ``limit`` open times in ``[first, last]``: from ``start``, else the latest."""
    if start is not None:
        t = max(first, ceil_open(start, interval))
        for _ in range(limit):
            if t > last:
                return
            yield t
            t = following_open(t, interval)
        return
    newest = floor_open(last, interval)
    times: list[int] = []
    while newest >= first and len(times) < limit:
        times.append(newest)
        newest = floor_open(newest - 1, interval)
    yield from reversed(times)


def candle_from_row(symbol: str, interval: str, row: list[Any], now: int | None = None) -> Candle:
    """What a REST kline row means, read field by field with ``float``.

    The candle is closed when its close time is before ``now`` (always, without ``now``).
    """
    return Candle(
        symbol,
        interval,
        row[0],
        row[6],
        float(row[1]),
        float(row[2]),
        float(row[3]),
        float(row[4]),
        float(row[5]),
        float(row[7]),
        row[8],
        float(row[9]),
        float(row[10]),
        now is None or row[6] < now,
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def recorded_candles(path: Path, symbol: str, interval: str) -> list[Candle]:
    """The closed candles the fake serves for a recorded kline CSV, read as the client should."""
    return [
        candle_from_row(
            symbol,
            interval,
            derive_kline(
                int(r["open_time_ms"]),
                interval,
                r["open"],
                r["high"],
                r["low"],
                r["close"],
                r["volume"],
            ),
        )
        for r in read_csv(path)
    ]
