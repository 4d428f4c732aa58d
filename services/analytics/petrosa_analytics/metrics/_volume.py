"""Volume: total, SMA, EMA, spike ratio, VWAP and taker delta from the klines' taker-buy volume."""

from __future__ import annotations

import math

import numpy as np

from petrosa_analytics.metrics._bars import Bars, BoolArray, FloatArray, IntArray
from petrosa_analytics.metrics._recursive import ema as ema_series
from petrosa_analytics.metrics._result import MetricResult, result, undefined

FAMILY = "volume"
# A recursive average's seed keeps weight ((n-1)/(n+1))**(10n) ~ e**-20 ~ 2e-9 after ten spans:
# below any figure we report, so the value depends on the last 10 spans of bars only.
WARMUP_SPANS = 10


def total(bars: Bars, window: int) -> MetricResult:
    """Base volume over the window, with quote volume and trade count beside it."""
    used = bars.tail(window)
    if not len(used):
        return undefined(FAMILY, "total", window, used, window, "no bars")
    return result(
        FAMILY,
        "total",
        window,
        used,
        window,
        float(used.volume.sum()),
        quote_volume=float(used.quote_volume.sum()),
        trade_count=int(used.trade_count.sum()),
    )


def sma(bars: Bars, window: int) -> MetricResult:
    """Mean base volume per bar over the window."""
    used = bars.tail(window)
    if not len(used):
        return undefined(FAMILY, "sma", window, used, window, "no bars")
    return result(FAMILY, "sma", window, used, window, float(used.volume.mean()))


def ema(bars: Bars, window: int) -> MetricResult:
    """EMA of base volume, alpha = 2 / (window + 1), over the last ``10 * window`` bars."""
    requested = WARMUP_SPANS * window
    used = bars.tail(requested)
    if not len(used):
        return undefined(FAMILY, "ema", window, used, requested, "no bars")
    return result(
        FAMILY, "ema", window, used, requested, float(ema_series(used.volume, window)[-1])
    )


def spike_ratio(bars: Bars, window: int) -> MetricResult:
    """The last bar's volume over the mean volume of the ``window`` bars before it."""
    used = bars.tail(window + 1)
    if len(used) < 2:
        return undefined(FAMILY, "spike_ratio", window, used, window + 1, "needs 2 bars or more")
    baseline = float(used.volume[:-1].mean())
    if baseline <= 0.0:
        return undefined(
            FAMILY, "spike_ratio", window, used, window + 1, "no volume in the bars before the last"
        )
    return result(
        FAMILY,
        "spike_ratio",
        window,
        used,
        window + 1,
        float(used.volume[-1]) / baseline,
        baseline_volume=baseline,
    )


def vwap(bars: Bars, window: int) -> MetricResult:
    """Sum of quote volume over sum of base volume: the exact traded VWAP of the window.

    Candles without quote volume fall back to the typical price (H + L + C) / 3 per bar.
    """
    used = bars.tail(window)
    base = float(used.volume.sum())
    if base <= 0.0:
        return undefined(FAMILY, "vwap", window, used, window, "no volume traded in the window")
    quote = float(used.quote_volume.sum())
    if math.isfinite(quote) and quote > 0.0:
        return result(FAMILY, "vwap", window, used, window, quote / base, source="quote_volume")
    typical = (used.high + used.low + used.close) / 3.0
    return result(
        FAMILY,
        "vwap",
        window,
        used,
        window,
        float((typical * used.volume).sum()) / base,
        source="typical_price",
    )


def taker_delta(bars: Bars, window: int) -> MetricResult:
    """Taker buy minus taker sell base volume, from each kline's recorded taker-buy volume."""
    used = bars.tail(window)
    if not len(used):
        return undefined(FAMILY, "taker_delta", window, used, window, "no bars")
    if np.isnan(used.taker_buy_base_volume).any():
        return undefined(
            FAMILY, "taker_delta", window, used, window, "the candles carry no taker-buy volume"
        )
    volume = float(used.volume.sum())
    buy = float(used.taker_buy_base_volume.sum())
    quote_buy = float(used.taker_buy_quote_volume.sum())
    quote_sell = float(used.quote_volume.sum()) - quote_buy
    return result(
        FAMILY,
        "taker_delta",
        window,
        used,
        window,
        buy - (volume - buy),
        taker_buy_volume=buy,
        taker_sell_volume=volume - buy,
        imbalance=(2.0 * buy - volume) / volume if volume > 0 else None,
        quote_delta=quote_buy - quote_sell,
    )


def trade_delta(
    quantity: FloatArray, price: FloatArray, is_buyer_maker: BoolArray, times: IntArray
) -> MetricResult:
    """Taker delta from stored aggTrades: a trade whose buyer is the maker was a taker sell."""
    quantity = np.asarray(quantity, dtype=np.float64)
    price = np.asarray(price, dtype=np.float64)
    maker = np.asarray(is_buyer_maker, dtype=np.bool_)
    times = np.asarray(times, dtype=np.int64)
    if not (quantity.shape == price.shape == maker.shape == times.shape) or quantity.ndim != 1:
        raise ValueError("quantity, price, is_buyer_maker and times must be 1-d of one length")
    n = int(quantity.shape[0])
    if n == 0:
        return MetricResult(FAMILY, "trade_delta", 0, None, None, 0.0, 0, {"reason": "no trades"})
    signed = np.where(maker, -quantity, quantity)
    buy = float(quantity[~maker].sum())
    return MetricResult(
        FAMILY,
        "trade_delta",
        n,
        float(signed.sum()),
        int(times.max()),
        1.0,
        n,
        {
            "taker_buy_volume": buy,
            "taker_sell_volume": float(quantity[maker].sum()),
            "quote_delta": float((signed * price).sum()),
        },
    )


METHODS = {
    "total": total,
    "sma": sma,
    "ema": ema,
    "spike_ratio": spike_ratio,
    "vwap": vwap,
    "taker_delta": taker_delta,
}
