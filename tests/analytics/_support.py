"""Real candles and quotes as the analytics library's inputs, and a GBM of known sigma."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from petrosa_analytics.metrics import Bars
from tests.harness.recorded import RECORDINGS

MINUTE = 60_000
FIVE_MINUTES = 5 * MINUTE
HOUR = 60 * MINUTE
CANDLE_FILES = {
    "xrpusdt_5m": ("xrpusdt_perp_5m_klines.csv", FIVE_MINUTES),
    "xrpusdt_1h": ("xrpusdt_perp_1h_klines.csv", HOUR),
    "xrpeth_1m_gaps": ("xrpeth_spot_1m_klines_with_gaps.csv", MINUTE),
}


@cache
def recorded(name: str) -> Bars:
    """One of the recorded kline CSVs (prices and base volume; the rest was not recorded)."""
    file, interval = CANDLE_FILES[name]
    with (RECORDINGS / file).open() as f:
        rows = list(csv.DictReader(f))
    columns = {
        k: np.array([float(r[k]) for r in rows]) for k in ("open", "high", "low", "close", "volume")
    }
    return Bars.from_columns(
        interval, open_time=np.array([int(r["open_time_ms"]) for r in rows]), **columns
    )


def rows_of(bars: Bars) -> list[dict[str, float]]:
    """The bars as plain Python rows, which the reference implementations loop over."""
    names = (
        "open_time",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "taker_buy_base_volume",
        "taker_buy_quote_volume",
    )
    columns = [getattr(bars, n).tolist() for n in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _frames(kind: str) -> list[dict[str, object]]:
    path: Path = RECORDINGS / "binance_usdm_ws_frames.jsonl"
    with path.open() as f:
        frames = [json.loads(line)["data"] for line in f]
    return [d for d in frames if d.get("e") == kind]


def recorded_kline_frames(symbol: str) -> Bars:
    """The last state of each 1m kline of ``symbol`` in the recorded websocket frames, with
    Binance's real quote and taker-buy volumes."""
    latest: dict[int, dict[str, str]] = {}
    for frame in _frames("kline"):
        k = frame["k"]
        assert isinstance(k, dict)
        if k["s"] == symbol:
            latest[int(k["t"])] = k
    ks = [latest[t] for t in sorted(latest)]

    def col(key: str) -> np.ndarray:
        return np.array([float(k[key]) for k in ks])

    return Bars.from_columns(
        MINUTE,
        open_time=np.array(sorted(latest)),
        open=col("o"),
        high=col("h"),
        low=col("l"),
        close=col("c"),
        volume=col("v"),
        quote_volume=col("q"),
        taker_buy_base_volume=col("V"),
        taker_buy_quote_volume=col("Q"),
        trade_count=np.array([int(k["n"]) for k in ks]),
    )


def recorded_book_tickers(symbol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best bid, best ask and transaction time of each recorded bookTicker of ``symbol``."""
    quotes = [f for f in _frames("bookTicker") if f["s"] == symbol]
    return (
        np.array([float(str(q["b"])) for q in quotes]),
        np.array([float(str(q["a"])) for q in quotes]),
        np.array([int(str(q["T"])) for q in quotes]),
    )


def recorded_agg_trades(symbol: str) -> list[dict[str, object]]:
    return [f for f in _frames("aggTrade") if f["s"] == symbol]


@dataclass(frozen=True)
class Simulated:
    bars: Bars
    sigma: float  # true per-bar volatility of log price


def gbm(bars: int, sigma: float, *, substeps: int = 32, seed: int = 20_26) -> Simulated:
    """Zero-drift GBM candles: log price moves sigma * sqrt(1/substeps) * N(0,1) per substep.

    Each substep's high and low are drawn exactly from the Brownian bridge between its
    endpoints (M = (a + b + sqrt((b - a)^2 - 2 s^2 ln U)) / 2), so the bar's extremes are not
    the grid's, whose bias (about 0.58 s per substep) would swamp the estimators' sampling
    error. The high and low of one substep are drawn independently, which matters only when
    both extremes of the bar fall in the same substep.
    """
    rng = np.random.default_rng(seed)
    step = sigma / math.sqrt(substeps)
    moves = rng.normal(0.0, step, size=(bars, substeps))
    path = np.cumsum(moves.reshape(-1)).reshape(bars, substeps)
    start = np.concatenate(([0.0], path[:-1, -1]))
    before = np.concatenate((start[:, None], path[:, :-1]), axis=1)
    a, b = before, path
    spread = (b - a) ** 2
    top = (a + b + np.sqrt(spread - 2 * step**2 * np.log(rng.random(a.shape)))) / 2
    bottom = (a + b - np.sqrt(spread - 2 * step**2 * np.log(rng.random(a.shape)))) / 2
    log_open = start
    log_close = path[:, -1]
    price = 100.0
    return Simulated(
        Bars.from_columns(
            MINUTE,
            open_time=np.arange(bars, dtype=np.int64) * MINUTE,
            open=price * np.exp(log_open),
            high=price * np.exp(top.max(axis=1)),
            low=price * np.exp(bottom.min(axis=1)),
            close=price * np.exp(log_close),
            volume=np.ones(bars),
        ),
        sigma,
    )
