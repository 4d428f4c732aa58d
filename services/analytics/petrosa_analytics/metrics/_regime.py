"""A regime label: the volatility's percentile against its own history, with the trend direction."""

from __future__ import annotations

import math

import numpy as np

from petrosa_analytics.metrics._bars import Bars
from petrosa_analytics.metrics._result import MetricResult, result, undefined
from petrosa_analytics.metrics._volatility import rolling_close_to_close

FAMILY = "regime"
VOLATILITY_BARS = 30  # the volatility family's default window
TREND_BARS = 30
LOW_PERCENTILE, HIGH_PERCENTILE = 25.0, 75.0  # quartiles: the middle half is "normal"
T_STAT = 2.0  # slope of log price significant at about 95 %


def _volatility_level(percentile: float) -> str:
    if percentile < LOW_PERCENTILE:
        return "low"
    return "high" if percentile > HIGH_PERCENTILE else "normal"


def _trend(bars: Bars) -> tuple[str, float]:
    """up/down when the OLS slope of log close over the last bars has |t| >= 2, else sideways."""
    used = bars.tail(TREND_BARS)
    x = (used.open_time - used.open_time[0]) / used.interval_ms
    y = used.log_close
    dx, dy = x - x.mean(), y - y.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ dy) / sxx
    residual = dy - slope * dx
    dof = len(used) - 2
    se = math.sqrt(float(residual @ residual) / dof / sxx)
    if se == 0.0:
        t = 0.0 if slope == 0.0 else math.copysign(math.inf, slope)
    else:
        t = slope / se
    direction = "sideways" if abs(t) < T_STAT else ("up" if t > 0 else "down")
    return direction, t


def volatility_trend(bars: Bars, window: int) -> MetricResult:
    """Label ``<low|normal|high>_volatility_<up|down|sideways>`` over a ``window``-bar history."""
    used = bars.tail(window)
    sigma, _ = rolling_close_to_close(used, VOLATILITY_BARS)
    sigma = sigma[np.isfinite(sigma)]
    if sigma.shape[0] < 2 or len(used) < TREND_BARS:
        return undefined(
            FAMILY,
            "volatility_trend",
            window,
            used,
            window,
            f"needs at least {VOLATILITY_BARS + 2} bars of history, got {len(used)}",
        )
    current = float(sigma[-1])
    percentile = (
        100.0
        * (float((sigma < current).sum()) + 0.5 * float((sigma == current).sum()))
        / sigma.shape[0]
    )
    level = _volatility_level(percentile)
    direction, t = _trend(used)
    return result(
        FAMILY,
        "volatility_trend",
        window,
        used,
        window,
        {"label": f"{level}_volatility_{direction}", "volatility": level, "trend": direction},
        volatility_percentile=percentile,
        current_volatility=current,
        history_volatilities=int(sigma.shape[0]),
        trend_t_stat=t,
    )


METHODS = {"volatility_trend": volatility_trend}
