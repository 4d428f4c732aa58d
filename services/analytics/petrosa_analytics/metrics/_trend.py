"""Trend: SMA, EMA and their crossovers, MACD (Appel), ADX (Wilder), linear-regression slope.

``window`` is the slow length; fast lengths scale by 12/26, MACD's signal by 9/26 and ADX's
period by 14/26, so the default 26 gives MACD 12/26/9 and ADX 14 (docs/analytics.md).
"""

from __future__ import annotations

import numpy as np

from petrosa_analytics.metrics._bars import Bars, FloatArray
from petrosa_analytics.metrics._recursive import ema as ema_series
from petrosa_analytics.metrics._recursive import wilder
from petrosa_analytics.metrics._result import MetricResult, finite, result, undefined
from petrosa_analytics.metrics._rolling import rolling_sum
from petrosa_analytics.metrics._volume import WARMUP_SPANS

FAMILY = "trend"
# Wilder's alpha is 1/p: (1 - 1/p)**(20p) ~ e**-20, the same seed weight as ten EMA spans.
WILDER_WARMUP_PERIODS = 20


def scaled(window: int, standard: int) -> int:
    """A length that is ``standard``/26 of ``window``, at least 2."""
    return max(2, round(window * standard / 26))


def sma(bars: Bars, window: int) -> MetricResult:
    """Mean close over the window."""
    used = bars.tail(window)
    if not len(used):
        return undefined(FAMILY, "sma", window, used, window, "no bars")
    return result(FAMILY, "sma", window, used, window, float(used.close.mean()))


def ema(bars: Bars, window: int) -> MetricResult:
    """EMA of close, alpha = 2 / (window + 1), over the last ``10 * window`` bars."""
    requested = WARMUP_SPANS * window
    used = bars.tail(requested)
    if not len(used):
        return undefined(FAMILY, "ema", window, used, requested, "no bars")
    return result(FAMILY, "ema", window, used, requested, float(ema_series(used.close, window)[-1]))


def _cross(
    method: str, window: int, used: Bars, requested: int, fast: FloatArray, slow: FloatArray
) -> MetricResult:
    """Fast minus slow at the last bar, and the last sign change within the last ``window``."""
    diff = (fast - slow)[-window:]
    times = used.open_time[-diff.shape[0] :]
    sign = np.sign(diff)
    changes = np.flatnonzero(sign[1:] != sign[:-1]) + 1
    last = int(changes[-1]) if changes.shape[0] else None
    state = {1.0: "above", -1.0: "below"}.get(float(sign[-1]), "equal")
    return result(
        FAMILY,
        method,
        window,
        used,
        requested,
        float(diff[-1]),
        fast=float(fast[-1]),
        slow=float(slow[-1]),
        state=state,
        last_cross_time=int(times[last]) if last is not None else None,
        bars_since_cross=diff.shape[0] - 1 - last if last is not None else None,
    )


def sma_crossover(bars: Bars, window: int) -> MetricResult:
    """SMA(fast) minus SMA(window), and the last crossing within the last ``window`` bars."""
    fast_n = scaled(window, 12)
    requested = 2 * window - 1
    used = bars.tail(requested)
    if len(used) < window:
        return undefined(
            FAMILY,
            "sma_crossover",
            window,
            used,
            requested,
            f"needs {window} bars, got {len(used)}",
        )
    slow = rolling_sum(used.close, window) / window
    fast = (rolling_sum(used.close, fast_n) / fast_n)[window - fast_n :]
    out = _cross("sma_crossover", window, used, requested, fast, slow)
    return _with_periods(out, fast_n, window)


def ema_crossover(bars: Bars, window: int) -> MetricResult:
    """EMA(fast) minus EMA(window), and the last crossing within the last ``window`` bars."""
    fast_n = scaled(window, 12)
    requested = WARMUP_SPANS * window + window
    used = bars.tail(requested)
    if len(used) < 2:
        return undefined(FAMILY, "ema_crossover", window, used, requested, "needs 2 bars or more")
    out = _cross(
        "ema_crossover",
        window,
        used,
        requested,
        ema_series(used.close, fast_n),
        ema_series(used.close, window),
    )
    return _with_periods(out, fast_n, window)


def _with_periods(out: MetricResult, fast: int, slow: int) -> MetricResult:
    return MetricResult(
        out.family,
        out.method,
        out.window,
        out.value,
        out.as_of_time,
        out.completeness,
        out.bars_used,
        {**out.extra, "fast_period": fast, "slow_period": slow},
    )


def macd(bars: Bars, window: int) -> MetricResult:
    """MACD line EMA(fast) - EMA(slow), its signal EMA and the histogram (Appel)."""
    fast_n, signal_n = scaled(window, 12), scaled(window, 9)
    requested = WARMUP_SPANS * (window + signal_n)
    used = bars.tail(requested)
    if not len(used):
        return undefined(FAMILY, "macd", window, used, requested, "no bars")
    line = ema_series(used.close, fast_n) - ema_series(used.close, window)
    signal = ema_series(line, signal_n)
    return result(
        FAMILY,
        "macd",
        window,
        used,
        requested,
        float(line[-1]),
        signal=float(signal[-1]),
        histogram=float(line[-1] - signal[-1]),
        fast_period=fast_n,
        slow_period=window,
        signal_period=signal_n,
    )


def directional(used: Bars, period: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """+DI, -DI and DX per bar from the second bar on (Wilder 1978)."""
    h, lo, c = used.high, used.low, used.close
    tr = np.maximum(h[1:] - lo[1:], np.maximum(np.abs(h[1:] - c[:-1]), np.abs(lo[1:] - c[:-1])))
    up, down = h[1:] - h[:-1], lo[:-1] - lo[1:]
    plus_dm = np.where((up > down) & (up > 0), up, 0.0)
    minus_dm = np.where((down > up) & (down > 0), down, 0.0)
    atr = wilder(tr, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        plus = 100.0 * wilder(plus_dm, period) / atr
        minus = 100.0 * wilder(minus_dm, period) / atr
        dx = 100.0 * np.abs(plus - minus) / (plus + minus)
    return plus, minus, dx


def adx(bars: Bars, window: int) -> MetricResult:
    """Wilder's ADX with period 14/26 of ``window``, with +DI and -DI."""
    period = scaled(window, 14)
    requested = 2 * WILDER_WARMUP_PERIODS * period + 1
    used = bars.tail(requested)
    if len(used) < 2 * period:
        return undefined(
            FAMILY, "adx", window, used, requested, f"needs {2 * period} bars, got {len(used)}"
        )
    plus, minus, dx = directional(used, period)
    dx = np.where(np.isfinite(dx), dx, 0.0)  # no directional movement at all: DX 0
    value = wilder(dx, period)
    return result(
        FAMILY,
        "adx",
        window,
        used,
        requested,
        float(value[-1]),
        plus_di=finite(float(plus[-1])),
        minus_di=finite(float(minus[-1])),
        period=period,
    )


def linear_regression(bars: Bars, window: int) -> MetricResult:
    """OLS slope of close on time (in bars) over the window, with R-squared."""
    used = bars.tail(window)
    if len(used) < 3:
        return undefined(
            FAMILY,
            "linear_regression",
            window,
            used,
            window,
            f"needs 3 bars or more, got {len(used)}",
        )
    x = (used.open_time - used.open_time[0]) / used.interval_ms
    y = used.close
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy, sxy = float(dx @ dx), float(dy @ dy), float(dx @ dy)
    slope = sxy / sxx
    mean = float(y.mean())
    return result(
        FAMILY,
        "linear_regression",
        window,
        used,
        window,
        slope,
        r_squared=sxy * sxy / (sxx * syy) if syy > 0 else None,
        relative_slope=slope / mean if mean else None,
        fitted_last=mean + slope * float(dx[-1]),
    )


METHODS = {
    "sma": sma,
    "ema": ema,
    "sma_crossover": sma_crossover,
    "ema_crossover": ema_crossover,
    "macd": macd,
    "adx": adx,
    "linear_regression": linear_regression,
}
