"""The demo's data: a recorded sample replayed as live market data, looped.

Loop ``n`` is the recording moved ``n`` periods later (a period is whole minutes, so
candles stay on the 1-minute grid), with every id moved on by what one loop spans, so
each loop adds new records and aggTrade ids and depth ``pu``->``u`` chains run on
unbroken. Loops are numbered from the recording itself: a restarted feed continues the
same sequences, and a moment replayed twice yields the same frames. Mark price and 24-hour
ticker frames, which the recording lacks, are derived from its prices every second.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

Frame = dict[str, Any]

SAMPLE = "binance_usdm_ws_frames.jsonl.gz"
SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
DAY_MS = 24 * 60 * MINUTE_MS
# Binance settles funding at 00:00, 08:00 and 16:00 UTC on most symbols.
FUNDING_PERIOD_MS = 8 * 60 * MINUTE_MS
# Settlements replayed at start, so /data/funding has rows long before the next one.
FUNDING_HISTORY = 3
# Binance's base interest rate: what most symbols pay in a calm market.
FUNDING_RATE = "0.00010000"

# The id fields of each event type, and which of a symbol's loop steps moves each.
ID_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "aggTrade": (("a", "agg"), ("f", "trade"), ("l", "trade")),
    "depthUpdate": (("U", "depth"), ("u", "depth"), ("pu", "depth")),
    "bookTicker": (("u", "book"),),
}


def load_sample() -> list[Frame]:
    """The recorded frames shipped inside this package, in arrival order."""
    raw = resources.files("petrosa_cli").joinpath("demo_data", SAMPLE).read_bytes()
    return [json.loads(line) for line in gzip.decompress(raw).splitlines() if line.strip()]


@dataclass(frozen=True)
class Steps:
    """How far one loop moves a symbol's ids, so that each loop starts where the last ended."""

    agg: int
    trade: int
    # The last u minus the first pu: the next loop's first pu is then this loop's last u.
    depth: int
    book: int


@dataclass(frozen=True)
class DayStats:
    """A symbol's 24-hour figures, as if the recording repeated all day."""

    open: float
    high: float
    low: float
    volume: float
    quote_volume: float
    trades: int
    price_decimals: int
    quantity_decimals: int


@dataclass
class Quote:
    """What the feed knows of a symbol at one moment: its last trade and best bid and ask."""

    price: float
    quantity: str
    bid: float
    ask: float
    last_trade_id: int

    def observe(self, data: Frame) -> None:
        if data["e"] == "aggTrade":
            self.price, self.quantity, self.last_trade_id = float(data["p"]), data["q"], data["l"]
        elif data["e"] == "bookTicker":
            self.bid, self.ask = float(data["b"]), float(data["a"])


class Replay:
    """The recording as an endless sequence of loops, each moved to its own time and ids."""

    def __init__(self, frames: Sequence[Frame]) -> None:
        self.frames = list(frames)
        times: list[int] = [f["data"]["E"] for f in self.frames]
        self.start = min(times)
        self.period = math.ceil((max(times) - self.start + 1) / MINUTE_MS) * MINUTE_MS
        by_symbol: dict[str, list[Frame]] = {}
        for frame in self.frames:
            by_symbol.setdefault(frame["data"]["s"], []).append(frame["data"])
        self.steps = {s: _steps(data) for s, data in by_symbol.items()}
        self.days = {s: _day_stats(data, DAY_MS // self.period) for s, data in by_symbol.items()}
        self.closing = {s: _closing_quote(data) for s, data in by_symbol.items()}

    def loop_of(self, time_ms: int) -> int:
        """The loop under way at ``time_ms``: the last one that started at or before it."""
        return (time_ms - self.start) // self.period

    def loop_start(self, n: int) -> int:
        return self.start + n * self.period

    def shifted(self, frame: Frame, n: int) -> Frame:
        """``frame`` as loop ``n`` plays it: every time and id moved on ``n`` loops."""
        data = dict(frame["data"])
        dt, steps = n * self.period, self.steps[data["s"]]
        for name in ("E", "T"):
            if name in data:
                data[name] += dt
        for name, step in ID_FIELDS.get(data["e"], ()):
            data[name] += n * getattr(steps, step)
        if data["e"] == "kline":
            k = data["k"] = dict(data["k"])
            k["t"], k["T"] = k["t"] + dt, k["T"] + dt
            # -1 means the candle has no trades yet; it stays -1.
            k["f"], k["L"] = (i + n * steps.trade if i >= 0 else i for i in (k["f"], k["L"]))
        return {"stream": frame["stream"], "data": data}

    def loop(self, n: int) -> Iterator[Frame]:
        """Loop ``n`` in publishing order, with a mark price and a ticker per symbol each second."""
        quotes = {
            s: replace(q, last_trade_id=q.last_trade_id + (n - 1) * self.steps[s].trade)
            for s, q in self.closing.items()
        }
        begin = self.loop_start(n)
        seconds = deque(range(-(-begin // SECOND_MS) * SECOND_MS, begin + self.period, SECOND_MS))
        for frame in self.frames:
            moved = self.shifted(frame, n)
            yield from self._each_second(seconds, moved["data"]["E"], quotes)
            quotes[moved["data"]["s"]].observe(moved["data"])
            yield moved
        yield from self._each_second(seconds, math.inf, quotes)

    def _each_second(
        self, seconds: deque[int], until: float, quotes: dict[str, Quote]
    ) -> Iterator[Frame]:
        while seconds and seconds[0] <= until:
            second = seconds.popleft()
            for symbol in sorted(quotes):
                yield self.mark_price(symbol, second, quotes[symbol])
                yield self.ticker(symbol, second, quotes[symbol])

    def funding_history(self, before: int) -> Iterator[Frame]:
        """Mark prices just before the last funding times, from which the ingestor settles them."""
        last = before // FUNDING_PERIOD_MS * FUNDING_PERIOD_MS
        for k in reversed(range(FUNDING_HISTORY)):
            at = last - k * FUNDING_PERIOD_MS - SECOND_MS
            for symbol in sorted(self.closing):
                yield self.mark_price(symbol, at, self.closing[symbol])

    def mark_price(self, symbol: str, time_ms: int, quote: Quote) -> Frame:
        """A ``markPriceUpdate``: mark at the book's mid, index at the last trade."""
        data = {
            "e": "markPriceUpdate",
            "E": time_ms,
            "s": symbol,
            "p": f"{(quote.bid + quote.ask) / 2:.8f}",
            "i": f"{quote.price:.8f}",
            "P": f"{quote.price:.8f}",
            "r": FUNDING_RATE,
            "T": next_funding_time(time_ms),
        }
        return {"stream": f"{symbol.lower()}@markPrice@1s", "data": data}

    def ticker(self, symbol: str, time_ms: int, quote: Quote) -> Frame:
        """A ``24hrTicker`` from the symbol's day figures and its last trade."""
        day, last = self.days[symbol], quote.price
        dp, dq = day.price_decimals, day.quantity_decimals
        data = {
            "e": "24hrTicker",
            "E": time_ms,
            "s": symbol,
            "p": f"{last - day.open:.{dp}f}",
            "P": f"{100 * (last - day.open) / day.open:.3f}",
            "w": f"{day.quote_volume / day.volume:.{dp}f}",
            "c": f"{last:.{dp}f}",
            "Q": quote.quantity,
            "o": f"{day.open:.{dp}f}",
            "h": f"{max(day.high, last):.{dp}f}",
            "l": f"{min(day.low, last):.{dp}f}",
            "v": f"{day.volume:.{dq}f}",
            "q": f"{day.quote_volume:.{dp}f}",
            "O": time_ms - DAY_MS,
            "C": time_ms,
            "F": quote.last_trade_id - day.trades + 1,
            "L": quote.last_trade_id,
            "n": day.trades,
        }
        return {"stream": f"{symbol.lower()}@ticker", "data": data}


def next_funding_time(time_ms: int) -> int:
    return (time_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS


def _of_type(data: Sequence[Frame], event: str) -> list[Frame]:
    return [d for d in data if d["e"] == event]


def _steps(data: Sequence[Frame]) -> Steps:
    aggs, depth = _of_type(data, "aggTrade"), _of_type(data, "depthUpdate")
    books = [d["u"] for d in _of_type(data, "bookTicker")]
    return Steps(
        agg=max(d["a"] for d in aggs) - min(d["a"] for d in aggs) + 1 if aggs else 0,
        trade=max(d["l"] for d in aggs) - min(d["f"] for d in aggs) + 1 if aggs else 0,
        depth=depth[-1]["u"] - depth[0]["pu"] if depth else 0,
        book=max(books) - min(books) + 1 if books else 0,
    )


def _decimals(text: str) -> int:
    return len(text.partition(".")[2])


def _day_stats(data: Sequence[Frame], loops_per_day: int) -> DayStats:
    aggs = _of_type(data, "aggTrade")
    if not aggs:
        raise ValueError(f"the demo sample has no aggTrade frames for {data[0]['s']}")
    prices = [float(d["p"]) for d in aggs]
    volume = sum(float(d["q"]) for d in aggs)
    quote_volume = sum(float(d["p"]) * float(d["q"]) for d in aggs)
    return DayStats(
        open=prices[0],
        high=max(prices),
        low=min(prices),
        volume=volume * loops_per_day,
        quote_volume=quote_volume * loops_per_day,
        trades=(aggs[-1]["l"] - aggs[0]["f"] + 1) * loops_per_day,
        price_decimals=max(_decimals(d["p"]) for d in aggs),
        quantity_decimals=max(_decimals(d["q"]) for d in aggs),
    )


def _closing_quote(data: Sequence[Frame]) -> Quote:
    """The symbol's state when the recording ends: where every loop but the first begins."""
    books = _of_type(data, "bookTicker")
    if not books:
        raise ValueError(f"the demo sample has no bookTicker frames for {data[0]['s']}")
    quote = Quote(0.0, "0", float(books[0]["b"]), float(books[0]["a"]), -1)
    for d in data:
        quote.observe(d)
    return quote


def encode(frame: Frame) -> bytes:
    return json.dumps(frame, separators=(",", ":")).encode()
