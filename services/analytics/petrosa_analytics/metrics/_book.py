"""Quoted spread and mid from stored best bid/ask quotes (book tickers, or depth's top level)."""

from __future__ import annotations

import numpy as np

from petrosa_analytics.metrics._bars import FloatArray, IntArray
from petrosa_analytics.metrics._result import MetricResult


def book_spread(bid: FloatArray, ask: FloatArray, times: IntArray) -> MetricResult:
    """Spread and mid at the last valid quote, and the mean relative spread over all valid quotes.

    A quote with a non-positive side or a crossed book (ask < bid) is not a market; it is
    counted in ``extra["invalid_quotes"]`` and left out.
    """
    bid = np.asarray(bid, dtype=np.float64)
    ask = np.asarray(ask, dtype=np.float64)
    times = np.asarray(times, dtype=np.int64)
    if not (bid.shape == ask.shape == times.shape) or bid.ndim != 1:
        raise ValueError("bid, ask and times must be 1-d arrays of one length")
    valid = np.isfinite(bid) & np.isfinite(ask) & (bid > 0) & (ask >= bid)
    invalid = int(bid.shape[0] - valid.sum())
    bid, ask, times = bid[valid], ask[valid], times[valid]
    if bid.shape[0] == 0:
        return MetricResult(
            "spread",
            "quoted",
            0,
            None,
            None,
            0.0,
            0,
            {"invalid_quotes": invalid, "reason": "no valid quote"},
        )
    mid = (bid + ask) / 2.0
    relative = (ask - bid) / mid
    value = {
        "mid": float(mid[-1]),
        "quoted_spread": float(ask[-1] - bid[-1]),
        "relative_spread": float(relative[-1]),
        "mean_relative_spread": float(relative.mean()),
    }
    return MetricResult(
        "spread",
        "quoted",
        int(bid.shape[0]),
        value,
        int(times[-1]),
        bid.shape[0] / (bid.shape[0] + invalid),
        int(bid.shape[0]),
        {"invalid_quotes": invalid},
    )
