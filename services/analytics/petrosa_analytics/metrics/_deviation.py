"""Deviation of the last close from its window: z-score, Bollinger %B, median absolute deviation."""

from __future__ import annotations

import numpy as np

from petrosa_analytics.metrics._bars import Bars
from petrosa_analytics.metrics._result import MetricResult, result, undefined

FAMILY = "deviation"
BOLLINGER_WIDTH = 2.0  # Bollinger's standard deviations either side of the middle band
MAD_TO_SIGMA = 1.4826  # 1 / Phi^-1(3/4): MAD of a normal sample times this estimates sigma


def _used(bars: Bars, method: str, window: int) -> tuple[Bars, MetricResult | None]:
    used = bars.tail(window)
    if len(used) < 2:
        return used, undefined(
            FAMILY, method, window, used, window, f"needs 2 bars or more, got {len(used)}"
        )
    return used, None


def zscore(bars: Bars, window: int) -> MetricResult:
    """(last close - mean) / population standard deviation of the window's closes."""
    used, missing = _used(bars, "zscore", window)
    if missing:
        return missing
    mean, std = float(used.close.mean()), float(used.close.std())
    if std == 0.0:
        return undefined(FAMILY, "zscore", window, used, window, "price did not move")
    return result(
        FAMILY,
        "zscore",
        window,
        used,
        window,
        (float(used.close[-1]) - mean) / std,
        mean=mean,
        std=std,
    )


def bollinger_percent_b(bars: Bars, window: int) -> MetricResult:
    """Bollinger %B: (close - lower) / (upper - lower), bands at SMA +- 2 population std."""
    used, missing = _used(bars, "bollinger_percent_b", window)
    if missing:
        return missing
    middle, std = float(used.close.mean()), float(used.close.std())
    if std == 0.0:
        return undefined(
            FAMILY,
            "bollinger_percent_b",
            window,
            used,
            window,
            "price did not move: the bands have no width",
        )
    upper, lower = middle + BOLLINGER_WIDTH * std, middle - BOLLINGER_WIDTH * std
    return result(
        FAMILY,
        "bollinger_percent_b",
        window,
        used,
        window,
        (float(used.close[-1]) - lower) / (upper - lower),
        upper=upper,
        middle=middle,
        lower=lower,
        bandwidth=(upper - lower) / middle,
    )


def mad(bars: Bars, window: int) -> MetricResult:
    """Median absolute deviation of the window's closes from their median."""
    used, missing = _used(bars, "mad", window)
    if missing:
        return missing
    median = float(np.median(used.close))
    value = float(np.median(np.abs(used.close - median)))
    return result(
        FAMILY,
        "mad",
        window,
        used,
        window,
        value,
        median=median,
        sigma_estimate=MAD_TO_SIGMA * value,
        deviation_of_last=(float(used.close[-1]) - median) / value if value else None,
    )


METHODS = {"zscore": zscore, "bollinger_percent_b": bollinger_percent_b, "mad": mad}
