"""The regime label: volatility percentile against its own history, and the trend direction."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from petrosa_analytics.metrics import Bars, compute
from tests.analytics._support import CANDLE_FILES, MINUTE, gbm, recorded, rows_of


@pytest.mark.parametrize("dataset", sorted(CANDLE_FILES))
def test_percentile_is_the_last_rolling_volatility_ranked_in_its_history(dataset: str) -> None:
    bars = recorded(dataset)
    rows = rows_of(bars)[-2000:]
    vols = []
    for end in range(30, len(rows)):
        chunk = rows[end - 30 : end + 1]
        returns = [
            math.log(c["close"] / p["close"])
            for p, c in zip(chunk, chunk[1:], strict=False)
            if c["open_time"] - p["open_time"] == bars.interval_ms
        ]
        if len(returns) >= 2:
            vols.append(statistics.stdev(returns))
    current = vols[-1]
    below = sum(1 for v in vols if v < current - 1e-15)
    equal = sum(1 for v in vols if abs(v - current) <= 1e-15)
    [result] = compute("regime", bars, window=2000)
    assert result.extra["history_volatilities"] == len(vols)
    assert result.extra["volatility_percentile"] == pytest.approx(
        100 * (below + equal / 2) / len(vols), abs=1e-9
    )
    assert isinstance(result.value, dict)
    assert (
        result.value["label"] == f"{result.value['volatility']}_volatility_{result.value['trend']}"
    )


def _path(log_prices: np.ndarray) -> Bars:
    close = 100 * np.exp(log_prices)
    open_ = np.r_[close[0], close[:-1]]
    return Bars.from_columns(
        MINUTE,
        open_time=np.arange(close.shape[0]) * MINUTE,
        open=open_,
        high=np.maximum(open_, close),
        low=np.minimum(open_, close),
        close=close,
    )


def test_a_calm_market_that_turns_wild_and_climbs_is_high_volatility_up() -> None:
    rng = np.random.default_rng(11)
    calm = rng.normal(0, 1e-4, 1500)
    wild = rng.normal(2e-3, 1e-3, 60)  # ten times the volatility, a strong drift up
    [result] = compute("regime", _path(np.cumsum(np.r_[calm, wild])), window=1560)
    assert isinstance(result.value, dict)
    assert result.value["label"] == "high_volatility_up"
    assert result.extra["volatility_percentile"] > 95


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_trend_direction_is_the_t_statistic_of_the_log_price_slope_over_30_bars(seed: int) -> None:
    bars = gbm(500, 1e-3, seed=seed).bars
    ys = [math.log(r["close"]) for r in rows_of(bars)[-30:]]
    xs = list(range(30))
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    residuals = [y - my - slope * (x - mx) for x, y in zip(xs, ys, strict=True)]
    t = slope / math.sqrt(sum(e * e for e in residuals) / 28 / sxx)
    [result] = compute("regime", bars, window=500)
    assert isinstance(result.value, dict)
    assert result.extra["trend_t_stat"] == pytest.approx(t, rel=1e-9)
    assert result.value["trend"] == ("sideways" if abs(t) < 2 else "up" if t > 0 else "down")
