"""Spread and liquidity from candles: Corwin-Schultz, Abdi-Ranaldo, Amihud illiquidity."""

from __future__ import annotations

import math

import numpy as np

from petrosa_analytics.metrics._bars import Bars, FloatArray
from petrosa_analytics.metrics._result import MetricResult, result, undefined

FAMILY = "spread"
_CS_DENOMINATOR = 3.0 - 2.0 * math.sqrt(2.0)


def _pairs(bars: Bars, window: int) -> tuple[Bars, np.ndarray]:
    """The last ``window + 1`` bars and which consecutive pairs among them are adjacent."""
    used = bars.tail(window + 1)
    return used, used.adjacent() if len(used) > 1 else np.zeros(0, dtype=bool)


def corwin_schultz_pairs(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """Two-bar Corwin-Schultz spreads of each consecutive pair, negatives set to 0.

    The second bar's range is shifted by any gap from the first bar's close (the paper's
    overnight adjustment), so a jump between bars is not read as spread.
    """
    h1, l1, c1 = high[:-1], low[:-1], close[:-1]
    h2, l2 = high[1:].copy(), low[1:].copy()
    up = np.maximum(l2 - c1, 0.0)  # second bar entirely above the first close
    down = np.maximum(c1 - h2, 0.0)  # entirely below
    h2, l2 = h2 - up + down, l2 - up + down
    beta = np.log(h1 / l1) ** 2 + np.log(h2 / l2) ** 2
    gamma = np.log(np.maximum(h1, h2) / np.minimum(l1, l2)) ** 2
    alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / _CS_DENOMINATOR - np.sqrt(
        gamma / _CS_DENOMINATOR
    )
    spread = 2.0 * (np.exp(alpha) - 1.0) / (1.0 + np.exp(alpha))
    out: FloatArray = np.maximum(spread, 0.0)
    return out


def corwin_schultz(bars: Bars, window: int) -> MetricResult:
    """Mean of the two-bar Corwin-Schultz (2012) spreads over the window's adjacent pairs."""
    used, keep = _pairs(bars, window)
    if not keep.any():
        return undefined(
            FAMILY, "corwin_schultz", window, used, window + 1, "needs 2 consecutive bars or more"
        )
    spreads = corwin_schultz_pairs(used.high, used.low, used.close)[keep]
    return result(
        FAMILY,
        "corwin_schultz",
        window,
        used,
        window + 1,
        float(spreads.mean()),
        pairs_used=int(spreads.shape[0]),
        zero_pairs=int((spreads == 0.0).sum()),
    )


def abdi_ranaldo(bars: Bars, window: int) -> MetricResult:
    """Abdi-Ranaldo (2017): sqrt(max(4 mean((c_t - eta_t)(c_t - eta_t+1)), 0)), in log prices."""
    used, keep = _pairs(bars, window)
    if not keep.any():
        return undefined(
            FAMILY, "abdi_ranaldo", window, used, window + 1, "needs 2 consecutive bars or more"
        )
    eta = (np.log(used.high) + np.log(used.low)) / 2.0
    c = np.log(used.close)
    products = ((c[:-1] - eta[:-1]) * (c[:-1] - eta[1:]))[keep]
    two_bar = np.sqrt(np.maximum(4.0 * products, 0.0))
    return result(
        FAMILY,
        "abdi_ranaldo",
        window,
        used,
        window + 1,
        math.sqrt(max(4.0 * float(products.mean()), 0.0)),
        two_bar_mean=float(two_bar.mean()),
        pairs_used=int(products.shape[0]),
    )


def amihud(bars: Bars, window: int) -> MetricResult:
    """Amihud (2002): mean |log return| per unit of quote (dollar) volume, over traded bars."""
    used, keep = _pairs(bars, window)
    dollar = used.quote_volume[1:]
    source = "quote_volume"
    if np.isnan(dollar).any():  # not recorded: dollar volume from close times base volume
        dollar, source = (used.close * used.volume)[1:], "close_times_volume"
    traded = keep & (dollar > 0)
    if not traded.any():
        return undefined(
            FAMILY, "amihud", window, used, window + 1, "needs consecutive bars with volume"
        )
    returns = np.abs(np.diff(np.log(used.close)))[traded]
    value = float((returns / dollar[traded]).mean())
    return result(
        FAMILY,
        "amihud",
        window,
        used,
        window + 1,
        value,
        per_million=value * 1e6,
        bars_with_volume=int(traded.sum()),
        dollar_volume=source,
    )


METHODS = {
    "corwin_schultz": corwin_schultz,
    "abdi_ranaldo": abdi_ranaldo,
    "amihud": amihud,
}
