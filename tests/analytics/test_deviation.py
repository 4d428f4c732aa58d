"""Deviation metrics against loop references: z-score, Bollinger %B, median absolute deviation."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from petrosa_analytics.metrics import Bars, compute
from tests.analytics._support import CANDLE_FILES, recorded, rows_of

WINDOW = 20


@pytest.mark.parametrize("dataset", sorted(CANDLE_FILES))
@pytest.mark.parametrize("window", [WINDOW, 5])
def test_zscore_percent_b_and_mad_match_their_definitions(dataset: str, window: int) -> None:
    bars = recorded(dataset)
    closes = [r["close"] for r in rows_of(bars)[-window:]]
    mean, std = statistics.fmean(closes), statistics.pstdev(closes)
    got = {r.method: r for r in compute("deviation", bars, window=window)}
    assert got["zscore"].value == pytest.approx((closes[-1] - mean) / std, rel=1e-9)
    upper, lower = mean + 2 * std, mean - 2 * std
    assert got["bollinger_percent_b"].value == pytest.approx(
        (closes[-1] - lower) / (upper - lower), rel=1e-9
    )
    median = statistics.median(closes)
    assert got["mad"].value == pytest.approx(
        statistics.median(abs(c - median) for c in closes), rel=1e-12, abs=1e-15
    )


def test_a_price_that_never_moved_has_no_zscore_and_says_why() -> None:
    n = 30
    flat = Bars.from_columns(
        60_000,
        open_time=np.arange(n) * 60_000,
        open=np.ones(n),
        high=np.ones(n),
        low=np.ones(n),
        close=np.ones(n),
    )
    got = {r.method: r for r in compute("deviation", flat)}
    assert got["zscore"].value is None and "did not move" in got["zscore"].extra["reason"]
    assert got["bollinger_percent_b"].value is None
    assert got["mad"].value == 0.0 and got["mad"].extra["deviation_of_last"] is None
    assert not any(isinstance(v, float) and math.isnan(v) for v in got["mad"].to_json().values())
