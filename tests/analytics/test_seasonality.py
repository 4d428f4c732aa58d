"""Hour-of-day and day-of-week profiles against a loop over datetime buckets."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from petrosa_analytics.metrics import compute
from tests.analytics._support import CANDLE_FILES, recorded, rows_of


@pytest.mark.parametrize("dataset", sorted(CANDLE_FILES))
@pytest.mark.parametrize("method", ["hour_of_day", "day_of_week"])
def test_each_bucket_matches_returns_and_volumes_grouped_by_utc_time(
    dataset: str, method: str
) -> None:
    bars = recorded(dataset)
    rows = rows_of(bars)
    [result] = compute("seasonality", bars, method=method, window=len(rows))

    def bucket(ms: float) -> int:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        return moment.hour if method == "hour_of_day" else moment.weekday()

    returns: dict[int, list[float]] = defaultdict(list)
    volumes: dict[int, list[float]] = defaultdict(list)
    for prev, cur in zip(rows, rows[1:], strict=False):
        if cur["open_time"] - prev["open_time"] == bars.interval_ms:
            returns[bucket(cur["open_time"])].append(math.log(cur["close"] / prev["close"]))
    for r in rows:
        volumes[bucket(r["open_time"])].append(r["volume"])
    assert isinstance(result.value, list)
    assert len(result.value) == (24 if method == "hour_of_day" else 7)
    for b, profile in enumerate(result.value):
        assert profile["bars"] == len(volumes[b])
        assert profile["returns"] == len(returns[b])
        if len(returns[b]) >= 2:
            assert profile["mean_return"] == pytest.approx(
                statistics.fmean(returns[b]), rel=1e-9, abs=1e-15
            )
            assert profile["volatility"] == pytest.approx(statistics.stdev(returns[b]), rel=1e-9)
        else:
            assert profile["volatility"] is None
        if volumes[b]:
            assert profile["mean_volume"] == pytest.approx(statistics.fmean(volumes[b]), rel=1e-12)
        else:
            assert profile["mean_volume"] is None and profile["mean_return"] is None
