"""Analytics metrics: the numpy library against a straightforward pandas version of the same
formulas, in the same run, on 1M synthetic 1-minute candles handed over as an Arrow table.

Both sides start from the table (``Bars.from_arrow`` against ``to_pandas``), compute every
method of every family over the same bars, and must agree to 1e-6 before any time counts.
Scenarios: the default windows (what the engine runs per symbol and interval) and whole-
history windows (each lookback family over all 1M bars), plus a correlation matrix of ten
pairs with missing bars. Figures are CPU time per call, medians of ``REPEATS`` batches.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from benchmarks._report import table
from petrosa_analytics.metrics import (
    DEFAULT_WINDOWS,
    FAMILIES,
    Bars,
    compute_all,
    correlation,
)

BARS = 1_000_000
BAR_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "taker_buy_base_volume",
    "taker_buy_quote_volume",
    "trade_count",
)
MINUTE = 60_000
REPEATS = 5
BATCH_SECONDS = 0.5
TARGET_RATIO = 10.0
LN2 = math.log(2.0)
# Every lookback family over the whole series; trend keeps its indicator period (26), since
# an EMA or ADX period of a million bars is no indicator anyone runs.
WHOLE_HISTORY = {
    "volatility": BARS // 2,  # vol of vol needs 2 x window bars
    "volume": BARS - 1,
    "spread": BARS - 1,
    "trend": DEFAULT_WINDOWS["trend"],
    "deviation": BARS,
    "seasonality": BARS,
    "regime": BARS,
}
CORRELATION_PAIRS = 10
CORRELATION_WINDOW = 100_000


def synthetic_table(n: int, seed: int, missing: float = 0.0) -> pa.Table:
    """GBM candles with volume, quote and taker columns, as the store's columnar read gives them."""
    rng = np.random.default_rng(seed)
    log_close = np.cumsum(rng.normal(0.0, 1e-3, n))
    close = 50.0 * np.exp(log_close)
    open_ = np.r_[50.0, close[:-1]]
    wick = np.abs(rng.normal(0.0, 5e-4, (2, n)))
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = rng.gamma(2.0, 50.0, n)
    taker = volume * rng.uniform(0.2, 0.8, n)
    keep = rng.random(n) >= missing
    times = np.arange(n, dtype=np.int64) * MINUTE
    columns = {
        "open_time": pa.array(times[keep]).cast(pa.timestamp("ms", tz="UTC")),
        "open": open_[keep],
        "high": high[keep],
        "low": low[keep],
        "close": close[keep],
        "volume": volume[keep],
        "quote_volume": (volume * close)[keep],
        "taker_buy_base_volume": taker[keep],
        "taker_buy_quote_volume": (taker * close)[keep],
        "trade_count": rng.integers(1, 500, n)[keep],
        "is_closed": np.ones(int(keep.sum()), bool),
    }
    return pa.table(columns)


# --- the straightforward pandas version: one function per method, same slices as the docs ---

Frame = pd.DataFrame


def _returns(t: Frame) -> pd.Series:
    """Log returns, NaN where the previous bar is not exactly one interval before."""
    r = np.log(t.close).diff()
    return r.where(t.open_time.diff() == MINUTE)


def _range_terms(t: Frame) -> tuple[pd.Series, pd.Series, pd.Series]:
    h, lo, c = np.log(t.high / t.open), np.log(t.low / t.open), np.log(t.close / t.open)
    return h, lo, c


def pd_volatility(df: Frame, w: int) -> dict[str, float]:
    r = _returns(df.iloc[-(w + 1) :]).dropna()
    t = df.iloc[-w:]
    h, lo, c = _range_terms(t)
    out = {
        "close_to_close": r.std(),
        "parkinson": math.sqrt(((h - lo) ** 2).mean() / (4 * LN2)),
        "garman_klass": math.sqrt((0.5 * (h - lo) ** 2 - (2 * LN2 - 1) * c**2).mean()),
        "rogers_satchell": math.sqrt((h * (h - c) + lo * (lo - c)).mean()),
    }
    t1 = df.iloc[-(w + 1) :]
    adjacent = t1.open_time.diff() == MINUTE
    overnight = np.log(t1.open / t1.close.shift())[adjacent]
    h, lo, c = (s[adjacent] for s in _range_terms(t1))
    n = int(adjacent.sum())
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    rs = (h * (h - c) + lo * (lo - c)).mean()
    out["yang_zhang"] = math.sqrt(overnight.var() + k * c.var() + (1 - k) * rs)
    r2 = _returns(df.iloc[-2 * w :])
    sigma = r2.rolling(w, min_periods=2).std().iloc[w:].dropna()
    out["vol_of_vol"] = sigma.std()
    return out


def pd_volume(df: Frame, w: int) -> dict[str, float]:
    t = df.iloc[-w:]
    v = df.volume
    return {
        "total": t.volume.sum(),
        "sma": t.volume.mean(),
        "ema": v.iloc[-10 * w :].ewm(span=w, adjust=False).mean().iloc[-1],
        "spike_ratio": v.iloc[-1] / v.iloc[-(w + 1) : -1].mean(),
        "vwap": t.quote_volume.sum() / t.volume.sum(),
        "taker_delta": (2 * t.taker_buy_base_volume - t.volume).sum(),
    }


def pd_spread(df: Frame, w: int) -> dict[str, float]:
    t = df.iloc[-(w + 1) :]
    adjacent = (t.open_time.diff() == MINUTE).iloc[1:].to_numpy()
    h1, l1, c1 = t.high.shift(), t.low.shift(), t.close.shift()
    up = (t.low - c1).clip(lower=0)
    down = (c1 - t.high).clip(lower=0)
    h2, l2 = t.high - up + down, t.low - up + down
    beta = np.log(h1 / l1) ** 2 + np.log(h2 / l2) ** 2
    gamma = np.log(np.maximum(h1, h2) / np.minimum(l1, l2)) ** 2
    d = 3 - 2 * math.sqrt(2)
    alpha = (np.sqrt(2 * beta) - np.sqrt(beta)) / d - np.sqrt(gamma / d)
    cs = (2 * (np.exp(alpha) - 1) / (1 + np.exp(alpha))).clip(lower=0).iloc[1:][adjacent]
    eta = (np.log(t.high) + np.log(t.low)) / 2
    lc = np.log(t.close)
    products = ((lc - eta) * (lc - eta.shift(-1))).iloc[:-1][adjacent]
    r = t.close.pct_change().where(t.open_time.diff() == MINUTE).abs()
    amihud = (r / t.quote_volume).where(t.quote_volume > 0).dropna()
    return {
        "corwin_schultz": cs.mean(),
        "abdi_ranaldo": math.sqrt(max(4 * products.mean(), 0.0)),
        "amihud": amihud.mean(),
    }


def _cross(diff: pd.Series) -> float:
    """Fast minus slow at the last bar; the last sign change is located too, as the library
    does, so both sides do the same work."""
    sign = np.sign(diff)
    changes = sign.ne(sign.shift()).iloc[1:]
    changes[changes].index.max()
    return float(diff.iloc[-1])


def _wilder(x: pd.Series, p: int) -> pd.Series:
    s = x.iloc[p - 1 :].copy()
    s.iloc[0] = x.iloc[:p].mean()
    return s.ewm(alpha=1 / p, adjust=False).mean()


def pd_trend(df: Frame, w: int) -> dict[str, float]:
    fast_n, signal_n, period = round(w * 12 / 26), round(w * 9 / 26), round(w * 14 / 26)
    c = df.close
    out: dict[str, float] = {
        "sma": c.iloc[-w:].mean(),
        "ema": c.iloc[-10 * w :].ewm(span=w, adjust=False).mean().iloc[-1],
    }
    t = c.iloc[-(2 * w - 1) :]
    diff = (t.rolling(fast_n).mean() - t.rolling(w).mean()).iloc[-w:]
    out["sma_crossover"] = _cross(diff)
    t = c.iloc[-(11 * w) :]
    ediff = t.ewm(span=fast_n, adjust=False).mean() - t.ewm(span=w, adjust=False).mean()
    out["ema_crossover"] = _cross(ediff.iloc[-w:])
    t = c.iloc[-10 * (w + signal_n) :]
    line = t.ewm(span=fast_n, adjust=False).mean() - t.ewm(span=w, adjust=False).mean()
    out["macd"] = line.iloc[-1]
    line.ewm(span=signal_n, adjust=False).mean()  # the signal line, as the library computes
    t = df.iloc[-(40 * period + 1) :]
    prev_close = t.close.shift()
    tr = (
        pd.concat([t.high - t.low, (t.high - prev_close).abs(), (t.low - prev_close).abs()], axis=1)
        .max(axis=1)
        .iloc[1:]
    )
    up, down = t.high.diff().iloc[1:], -t.low.diff().iloc[1:]
    plus_dm = up.where((up > down) & (up > 0), 0.0)
    minus_dm = down.where((down > up) & (down > 0), 0.0)
    atr = _wilder(tr, period)
    plus, minus = 100 * _wilder(plus_dm, period) / atr, 100 * _wilder(minus_dm, period) / atr
    dx = (100 * (plus - minus).abs() / (plus + minus)).fillna(0.0)
    out["adx"] = _wilder(dx, period).iloc[-1]
    t = df.iloc[-w:]
    x = (t.open_time - t.open_time.iloc[0]) / MINUTE
    out["linear_regression"] = x.cov(t.close) / x.var()
    return out


def pd_deviation(df: Frame, w: int) -> dict[str, float]:
    c = df.close.iloc[-w:]
    mean, std = c.mean(), c.std(ddof=0)
    return {
        "zscore": (c.iloc[-1] - mean) / std,
        "bollinger_percent_b": (c.iloc[-1] - (mean - 2 * std)) / (4 * std),
        "mad": (c - c.median()).abs().median(),
    }


def pd_seasonality(df: Frame, w: int) -> dict[str, float]:
    t = df.iloc[-w:]
    when = pd.to_datetime(t.open_time, unit="ms", utc=True)
    r = _returns(t)
    out = {}
    for name, key in (("hour_of_day", when.dt.hour), ("day_of_week", when.dt.dayofweek)):
        profile = r.groupby(key).agg(["mean", "std", "count"])
        volume = t.volume.groupby(key).mean()
        # One figure to compare: the profile's first bucket volatility.
        out[name] = profile["std"].iloc[0] + 0 * volume.iloc[0]
    return out


def pd_regime(df: Frame, w: int) -> dict[str, float]:
    t = df.iloc[-w:]
    sigma = _returns(t).rolling(30, min_periods=2).std().iloc[30:].dropna()
    current = sigma.iloc[-1]
    percentile = 100 * ((sigma < current).sum() + 0.5 * (sigma == current).sum()) / len(sigma)
    y = np.log(t.close.iloc[-30:])
    x = pd.Series(np.arange(30.0), index=y.index)
    x.cov(y) / x.var()  # the trend slope, as the library computes
    return {"volatility_trend": percentile}


PANDAS: dict[str, Callable[[Frame, int], dict[str, float]]] = {
    "volatility": pd_volatility,
    "volume": pd_volume,
    "spread": pd_spread,
    "trend": pd_trend,
    "deviation": pd_deviation,
    "seasonality": pd_seasonality,
    "regime": pd_regime,
}


def pandas_frame(source: pa.Table) -> Frame:
    df = source.to_pandas()
    df["open_time"] = df.open_time.dt.as_unit("ms").astype("int64")
    return df


def pandas_metrics(df: Frame, windows: Mapping[str, int]) -> dict[tuple[str, str], float]:
    return {
        (family, method): value
        for family in FAMILIES
        for method, value in PANDAS[family](df, windows[family]).items()
    }


def numpy_metrics(bars: Bars, windows: Mapping[str, int]) -> dict[tuple[str, str], float]:
    return {
        (r.family, r.method): _comparable(r.family, r.value, r.extra)
        for r in compute_all(bars, windows)
    }


def _comparable(family: str, value: Any, extra: Mapping[str, Any]) -> float:
    """The one figure per method the pandas side also produces."""
    if family == "seasonality":
        return float(value[0]["volatility"])
    if family == "regime":
        return float(extra["volatility_percentile"])
    return float(value)


def _agree(a: Mapping[tuple[str, str], float], b: Mapping[tuple[str, str], float]) -> None:
    for key in a:
        if not math.isclose(a[key], b[key], rel_tol=1e-6, abs_tol=1e-12):
            raise AssertionError(f"{key}: numpy {a[key]!r} != pandas {b[key]!r}")


def _median_seconds(run: Callable[[Any], object], fresh: Callable[[], Any] = lambda: None) -> float:
    """Median per-call CPU time of ``run(fresh())`` over ``REPEATS`` batches.

    Each batch repeats the call until it lasts ``BATCH_SECONDS``; the inputs are built before
    the clock starts, one per call, so nothing one call derives (the library keeps a
    dataset's log prices) helps the next. CPU time of this process, not wall time: the
    machine is shared, and a turn taken by another process is not this code's cost.
    """
    started = time.process_time()
    run(fresh())
    loops = max(1, math.ceil(BATCH_SECONDS / max(time.process_time() - started, 1e-6)))
    times = []
    for _ in range(REPEATS):
        inputs = [fresh() for _ in range(loops)]
        started = time.process_time()
        for item in inputs:
            run(item)
        times.append((time.process_time() - started) / loops)
    return statistics.median(times)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def _row(name: str, ours: float, theirs: float) -> list[str]:
    return [name, "", "", _ms(ours), _ms(theirs), f"{theirs / ours:.1f}x"]


def _fresh(bars: Bars) -> Bars:
    """The same columns (not copied) as a new dataset, with nothing derived yet."""
    return Bars.from_columns(
        bars.interval_ms, **{name: getattr(bars, name) for name in BAR_COLUMNS}
    )


def metric_rows() -> list[list[str]]:
    """Load (Arrow table to Bars or DataFrame) and compute timed apart, then end to end."""
    source = synthetic_table(BARS, seed=1)
    bars, frame = Bars.from_arrow(source, MINUTE), pandas_frame(source)
    load = (
        _median_seconds(lambda _: Bars.from_arrow(source, MINUTE)),
        _median_seconds(lambda _: pandas_frame(source)),
    )
    rows = [["load 1M x 1m from Arrow", _ms(load[0]), _ms(load[1]), "", "", ""]]
    for name, windows in (("default windows", DEFAULT_WINDOWS), ("whole history", WHOLE_HISTORY)):
        _agree(numpy_metrics(bars, windows), pandas_metrics(frame, windows))
        ours = _median_seconds(lambda b, w=windows: numpy_metrics(b, w), lambda: _fresh(bars))
        theirs = _median_seconds(lambda _, w=windows: pandas_metrics(frame, w))
        rows.append(
            [f"compute_all, {name}", "", "", _ms(ours), _ms(theirs), f"{theirs / ours:.1f}x"]
        )
        rows.append(
            [
                f"load + compute_all, {name}",
                "",
                "",
                _ms(load[0] + ours),
                _ms(load[1] + theirs),
                f"{(load[1] + theirs) / (load[0] + ours):.1f}x",
            ]
        )
    return rows


def correlation_row() -> list[str]:
    tables = {
        f"P{i}": synthetic_table(BARS, seed=10 + i, missing=0.001) for i in range(CORRELATION_PAIRS)
    }

    def ours() -> list[list[float | None]]:
        series = {name: Bars.from_arrow(t, MINUTE) for name, t in tables.items()}
        value = correlation(series, window=CORRELATION_WINDOW).value
        assert isinstance(value, dict)
        return value["matrix"]  # type: ignore[no-any-return]

    def theirs() -> pd.DataFrame:
        returns = {}
        for name, t in tables.items():
            df = t.select(["open_time", "close"]).to_pandas().set_index("open_time")
            full = df.close.reindex(pd.date_range(df.index[0], df.index[-1], freq="1min"))
            returns[name] = np.log(full).diff()
        frame = pd.DataFrame(returns)
        return frame.iloc[-CORRELATION_WINDOW:].corr()

    ours_matrix, theirs_matrix = np.array(ours(), dtype=float), theirs().to_numpy()
    if not np.allclose(ours_matrix, theirs_matrix, rtol=1e-6, atol=1e-9):
        raise AssertionError("correlation matrices differ")
    return _row(
        f"correlation, {CORRELATION_PAIRS} pairs x 1M x 1m, window 100k, 0.1 % bars missing",
        _median_seconds(lambda _: ours()),
        _median_seconds(lambda _: theirs()),
    )


async def run() -> None:
    rows = [*metric_rows(), correlation_row()]
    print(
        table(
            f"Analytics metrics, CPU ms per call, median of {REPEATS} batches (results equal)",
            ["scenario", "load numpy", "load pandas", "numpy", "pandas", "ratio"],
            rows,
        )
    )
    print(f"target: at least {TARGET_RATIO:.0f}x faster than pandas")
