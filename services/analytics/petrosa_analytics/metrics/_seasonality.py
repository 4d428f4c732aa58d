"""Hour-of-day and day-of-week profiles (UTC) of log return, volatility and volume."""

from __future__ import annotations

from typing import Any

import numpy as np

from petrosa_analytics.metrics._bars import Bars, IntArray
from petrosa_analytics.metrics._result import MetricResult, result, undefined

FAMILY = "seasonality"
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday is 0


def _buckets(times: IntArray, unit_ms: int, offset: int, size: int) -> IntArray:
    """(times // unit + offset) % size, by float division: exact for epoch milliseconds (a
    multiple of the unit divides to an exact integer; any other time lies at least 1/unit
    below the next one, far above rounding) and several times faster than int64 division."""
    whole = np.floor(times / float(unit_ms)).astype(np.int64)
    out: IntArray = (whole + offset) % size
    return out


def _profile(used: Bars, bucket_of: IntArray, size: int, name: str) -> list[dict[str, Any]]:
    """Per bucket: bars, mean and sample std (ddof 1) of log returns, mean volume."""
    keep = used.adjacent()
    returns = np.diff(used.log_close)[keep]
    at = bucket_of[1:][keep]
    n = np.bincount(at, minlength=size).astype(np.float64)
    s1 = np.bincount(at, weights=returns, minlength=size)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n
        # Second pass on deviations from each bucket's mean: no cancellation of squares.
        dev = returns - mean[at]
        var = np.bincount(at, weights=dev * dev, minlength=size) / (n - 1.0)
        bars = np.bincount(bucket_of, minlength=size).astype(np.float64)
        volume = np.bincount(bucket_of, weights=used.volume, minlength=size) / bars
        volatility = np.sqrt(np.maximum(var, 0.0))
    columns = zip(
        bars.astype(np.int64).tolist(),
        n.astype(np.int64).tolist(),
        np.where(n >= 1, mean, np.nan).tolist(),
        np.where(n >= 2, volatility, np.nan).tolist(),
        np.where(bars >= 1, volume, np.nan).tolist(),
        strict=True,
    )
    # x == x is False only for NaN: the empty buckets' figures become None.
    return [
        {
            name: b,
            "bars": count,
            "returns": returns_count,
            "mean_return": m if m == m else None,
            "volatility": v if v == v else None,
            "mean_volume": vol if vol == vol else None,
        }
        for b, (count, returns_count, m, v, vol) in enumerate(columns)
    ]


def hour_of_day(bars: Bars, window: int) -> MetricResult:
    """Profile by UTC hour 0-23 of each bar's open time, over the window."""
    used = bars.tail(window)
    if len(used) < 1:
        return undefined(FAMILY, "hour_of_day", window, used, window, "no bars")
    hours = _buckets(used.open_time, HOUR_MS, 0, 24)
    return result(FAMILY, "hour_of_day", window, used, window, _profile(used, hours, 24, "hour"))


def day_of_week(bars: Bars, window: int) -> MetricResult:
    """Profile by UTC weekday (0 = Monday) of each bar's open time, over the window."""
    used = bars.tail(window)
    if len(used) < 1:
        return undefined(FAMILY, "day_of_week", window, used, window, "no bars")
    days = _buckets(used.open_time, DAY_MS, EPOCH_WEEKDAY, 7)
    return result(FAMILY, "day_of_week", window, used, window, _profile(used, days, 7, "day"))


METHODS = {"hour_of_day": hour_of_day, "day_of_week": day_of_week}
