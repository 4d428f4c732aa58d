"""Volatility per bar: close-to-close, the range estimators, Yang-Zhang, volatility of volatility.

Formulas and references: docs/analytics.md. Values are per bar; ``annualized`` multiplies by
sqrt(bars per 365 days).
"""

from __future__ import annotations

import math

import numpy as np

from petrosa_analytics.metrics._bars import Bars, FloatArray, adjacent_log_returns
from petrosa_analytics.metrics._result import MetricResult, result, undefined
from petrosa_analytics.metrics._rolling import rolling_var

FAMILY = "volatility"
LN2 = math.log(2.0)


def _vol(
    bars: Bars,
    method: str,
    window: int,
    used: Bars,
    requested: int,
    variance: float,
    **extra: object,
) -> MetricResult:
    sigma = math.sqrt(max(variance, 0.0))
    return result(
        FAMILY,
        method,
        window,
        used,
        requested,
        sigma,
        annualized=sigma * math.sqrt(bars.bars_per_year),
        **extra,
    )


def close_to_close(bars: Bars, window: int) -> MetricResult:
    """Sample standard deviation (ddof 1) of the last ``window`` log returns."""
    used = bars.tail(window + 1)
    returns, _ = adjacent_log_returns(used)
    if returns.shape[0] < 2:
        return undefined(
            FAMILY,
            "close_to_close",
            window,
            used,
            window + 1,
            f"needs at least 2 returns between consecutive bars, got {returns.shape[0]}",
        )
    return _vol(
        bars,
        "close_to_close",
        window,
        used,
        window + 1,
        float(np.var(returns, ddof=1)),
        returns_used=returns.shape[0],
    )


def _log_ranges(used: Bars) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """ln(H/O), ln(L/O), ln(C/O) and ln(H/L) of each bar."""
    o = used.log_open
    h, lo, c = used.log_high - o, used.log_low - o, used.log_close - o
    return h, lo, c, h - lo


def _range_result(bars: Bars, method: str, window: int) -> MetricResult:
    used = bars.tail(window)
    if len(used) < 1:
        return undefined(FAMILY, method, window, used, window, "no bars")
    h, lo, c, hl = _log_ranges(used)
    if method == "parkinson":
        terms = hl * hl / (4.0 * LN2)
    elif method == "garman_klass":
        terms = 0.5 * hl * hl - (2.0 * LN2 - 1.0) * c * c
    else:
        terms = h * (h - c) + lo * (lo - c)
    return _vol(bars, method, window, used, window, float(np.mean(terms)))


def parkinson(bars: Bars, window: int) -> MetricResult:
    """Parkinson (1980): sqrt(mean(ln(H/L)^2) / (4 ln 2))."""
    return _range_result(bars, "parkinson", window)


def garman_klass(bars: Bars, window: int) -> MetricResult:
    """Garman-Klass (1980): sqrt(mean(0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2))."""
    return _range_result(bars, "garman_klass", window)


def rogers_satchell(bars: Bars, window: int) -> MetricResult:
    """Rogers-Satchell (1991): sqrt(mean(ln(H/C) ln(H/O) + ln(L/C) ln(L/O)))."""
    return _range_result(bars, "rogers_satchell", window)


def yang_zhang(bars: Bars, window: int) -> MetricResult:
    """Yang-Zhang (2000): overnight + k * open-to-close + (1 - k) * Rogers-Satchell variance."""
    used = bars.tail(window + 1)
    keep = used.adjacent()
    n = int(keep.sum())
    if n < 2:
        return undefined(
            FAMILY,
            "yang_zhang",
            window,
            used,
            window + 1,
            f"needs at least 2 bars with their predecessor, got {n}",
        )
    overnight = (used.log_open[1:] - used.log_close[:-1])[keep]
    current = used.tail(len(used) - 1)
    h, lo, c, _ = _log_ranges(current)
    h, lo, c = h[keep], lo[keep], c[keep]
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    var_o = float(np.var(overnight, ddof=1))
    var_c = float(np.var(c, ddof=1))
    var_rs = float(np.mean(h * (h - c) + lo * (lo - c)))
    return _vol(
        bars,
        "yang_zhang",
        window,
        used,
        window + 1,
        var_o + k * var_c + (1.0 - k) * var_rs,
        k=k,
        bars_with_predecessor=n,
        overnight_variance=var_o,
        open_close_variance=var_c,
        rogers_satchell_variance=var_rs,
    )


def rolling_close_to_close(bars: Bars, window: int) -> tuple[FloatArray, FloatArray]:
    """Close-to-close volatility at each bar from ``window`` on, and how many returns it used.

    Index i covers the returns ending at bars i+1 .. i+window; returns across a gap are left out.
    """
    if len(bars) < 2:
        return np.empty(0), np.empty(0)
    with np.errstate(invalid="ignore"):
        returns = np.diff(bars.log_close)
    valid = bars.adjacent() & np.isfinite(returns)
    if returns.shape[0] < window:
        return np.empty(0), np.empty(0)
    var, count = rolling_var(np.where(valid, returns, 0.0), valid, window)
    return np.sqrt(var), count


def vol_of_vol(bars: Bars, window: int) -> MetricResult:
    """Sample std (ddof 1) of the last ``window`` rolling close-to-close volatilities (each over
    ``window`` returns)."""
    requested = 2 * window
    used = bars.tail(requested)
    sigma, _ = rolling_close_to_close(used, window)
    sigma = sigma[np.isfinite(sigma)]
    if sigma.shape[0] < 2:
        return undefined(
            FAMILY,
            "vol_of_vol",
            window,
            used,
            requested,
            f"needs {requested} bars for 2 or more rolling volatilities",
        )
    value = float(np.std(sigma, ddof=1))
    mean = float(np.mean(sigma))
    return _vol(
        bars,
        "vol_of_vol",
        window,
        used,
        requested,
        value * value,
        mean_volatility=mean,
        relative=value / mean if mean > 0 else None,
        volatilities_used=sigma.shape[0],
    )


METHODS = {
    "close_to_close": close_to_close,
    "parkinson": parkinson,
    "garman_klass": garman_klass,
    "rogers_satchell": rogers_satchell,
    "yang_zhang": yang_zhang,
    "vol_of_vol": vol_of_vol,
}
