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


def corwin_schultz_pairs(bars: Bars) -> FloatArray:
    """Two-bar Corwin-Schultz spreads of each consecutive pair, negatives set to 0.

    The second bar's range is shifted by any gap from the first bar's close (the paper's
    overnight adjustment), so a jump between bars is not read as spread. Worked in log prices:
    ln(max(H1, H2) / min(L1, L2)) is max(ln H) - min(ln L), which spares a log per pair.
    """
    lh1, ll1, lc1 = bars.log_high[:-1], bars.log_low[:-1], bars.log_close[:-1]
    lh2, ll2 = bars.log_high[1:].copy(), bars.log_low[1:].copy()
    gapped = np.flatnonzero((ll2 > lc1) | (lh2 < lc1))
    if gapped.shape[0]:
        close = bars.close[:-1][gapped]
        high, low = bars.high[1:][gapped], bars.low[1:][gapped]
        shift = np.maximum(low - close, 0.0) - np.maximum(close - high, 0.0)
        lh2[gapped], ll2[gapped] = np.log(high - shift), np.log(low - shift)
    root_beta = np.sqrt((lh1 - ll1) ** 2 + (lh2 - ll2) ** 2)
    root_gamma = np.maximum(lh1, lh2) - np.minimum(ll1, ll2)
    alpha = (math.sqrt(2.0) - 1.0) * root_beta / _CS_DENOMINATOR - root_gamma / math.sqrt(
        _CS_DENOMINATOR
    )
    # 2 (e^a - 1) / (1 + e^a) is 2 tanh(a / 2), without the cancellation of e^a - 1.
    out: FloatArray = np.maximum(2.0 * np.tanh(alpha / 2.0), 0.0)
    return out


def corwin_schultz(bars: Bars, window: int) -> MetricResult:
    """Mean of the two-bar Corwin-Schultz (2012) spreads over the window's adjacent pairs."""
    used, keep = _pairs(bars, window)
    if not keep.any():
        return undefined(
            FAMILY, "corwin_schultz", window, used, window + 1, "needs 2 consecutive bars or more"
        )
    spreads = corwin_schultz_pairs(used)[keep]
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
    eta = (used.log_high + used.log_low) / 2.0
    c = used.log_close
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
    """Amihud (2002): mean |simple return| per unit of quote (dollar) volume, over traded bars."""
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
    # Amihud's R is the simple return, not the log return.
    returns = np.abs(used.close[1:] / used.close[:-1] - 1.0)[traded]
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
