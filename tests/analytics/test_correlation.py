"""Correlation across pairs on exactly aligned returns: missing bars drop out, never filled."""

from __future__ import annotations

import math

import numpy as np
import pytest

from petrosa_analytics.metrics import Bars, correlation, rolling_correlation
from tests.analytics._support import MINUTE, recorded, rows_of


def returns_by_time(bars: Bars) -> dict[int, float]:
    rows = rows_of(bars)
    return {
        int(c["open_time"]): math.log(c["close"] / p["close"])
        for p, c in zip(rows, rows[1:], strict=False)
        if c["open_time"] - p["open_time"] == bars.interval_ms
    }


def ref_pearson(x: list[float], y: list[float]) -> float:
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def ref_ranks(x: list[float]) -> list[float]:
    ranks = []
    for v in x:
        below = sum(1 for w in x if w < v)
        equal = sum(1 for w in x if w == v)
        ranks.append(below + (equal + 1) / 2)
    return ranks


def derived(bars: Bars, seed: int, drop: list[int]) -> Bars:
    """Another pair: the same times minus ``drop``, with its own noise on the log price."""
    keep = np.setdiff1d(np.arange(len(bars)), drop)
    noise = np.exp(np.random.default_rng(seed).normal(0, 5e-4, len(bars)))[keep]
    cols = {n: getattr(bars, n)[keep] * noise for n in ("open", "high", "low", "close")}
    return Bars.from_columns(bars.interval_ms, open_time=bars.open_time[keep], **cols)


@pytest.fixture
def three_pairs() -> dict[str, Bars]:
    gapped = recorded("xrpeth_1m_gaps")  # the recording's own missing minutes
    return {
        "XRPETH": gapped,
        "AAA": derived(gapped, 1, drop=[len(gapped) - 5, len(gapped) - 40]),
        "BBB": derived(gapped, 2, drop=list(range(len(gapped) - 90, len(gapped) - 60))),
    }


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_matrix_uses_for_each_pair_only_the_slots_where_both_have_a_return(
    three_pairs: dict[str, Bars], method: str
) -> None:
    window = 200
    result = correlation(three_pairs, window=window, method=method)
    assert isinstance(result.value, dict)
    names = result.value["pairs"]
    assert names == sorted(three_pairs)
    last = max(int(b.open_time[-1]) for b in three_pairs.values())
    first = last - (window - 1) * MINUTE
    per_pair = {n: returns_by_time(b) for n, b in three_pairs.items()}
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            common = sorted(t for t in per_pair[a] if first <= t <= last and t in per_pair[b])
            x, y = [per_pair[a][t] for t in common], [per_pair[b][t] for t in common]
            if method == "spearman":
                x, y = ref_ranks(x), ref_ranks(y)
            assert result.extra["observations"][i][j] == len(common)
            assert result.value["matrix"][i][j] == pytest.approx(ref_pearson(x, y), rel=1e-9)
    fewest = min(min(row) for row in result.extra["observations"])
    assert fewest < window  # the gaps cost observations, and the result says so
    assert result.completeness == pytest.approx(fewest / window)


def test_a_flat_or_absent_pair_gets_none_never_nan(three_pairs: dict[str, Bars]) -> None:
    n = 50
    flat = Bars.from_columns(
        MINUTE,
        open_time=three_pairs["XRPETH"].open_time[-n:],
        open=np.ones(n),
        high=np.ones(n),
        low=np.ones(n),
        close=np.ones(n),
    )
    empty = Bars.from_columns(
        MINUTE, open_time=np.array([], dtype=np.int64), open=[], high=[], low=[], close=[]
    )
    result = correlation({"XRPETH": three_pairs["XRPETH"], "FLAT": flat, "NONE": empty}, window=30)
    assert isinstance(result.value, dict)
    matrix = result.value["matrix"]
    assert matrix[0][0] is None and matrix[1][1] is None  # FLAT, NONE
    assert matrix[2][2] == pytest.approx(1.0)  # XRPETH with itself
    assert result.completeness == 0.0
    assert correlation({"NONE": empty}, window=30).extra["reason"] == "no bars in any series"


def test_refuses_mixed_intervals_unknown_methods_and_tiny_windows(
    three_pairs: dict[str, Bars],
) -> None:
    hourly = recorded("xrpusdt_1h")
    with pytest.raises(ValueError, match="one interval"):
        correlation({"A": three_pairs["XRPETH"], "B": hourly}, window=30)
    with pytest.raises(ValueError, match="unknown correlation method"):
        correlation(three_pairs, window=30, method="kendall")
    with pytest.raises(ValueError, match="at least 2"):
        correlation(three_pairs, window=1)


def test_rolling_correlation_matches_pearson_over_each_run_of_common_returns(
    three_pairs: dict[str, Bars],
) -> None:
    window = 60
    a, b = three_pairs["XRPETH"], three_pairs["BBB"]
    ra, rb = returns_by_time(a), returns_by_time(b)
    common = sorted(set(ra) & set(rb))
    result = rolling_correlation(a, b, window=window)
    assert isinstance(result.value, list)
    assert len(result.value) == len(common) - window + 1
    for k in (0, len(result.value) // 2, len(result.value) - 1):
        times = common[k : k + window]
        point = result.value[k]
        assert point["time"] == times[-1]
        expected = ref_pearson([ra[t] for t in times], [rb[t] for t in times])
        assert point["value"] == pytest.approx(expected, rel=1e-7, abs=1e-9)


def test_rolling_correlation_over_too_few_common_returns_is_empty_with_a_reason() -> None:
    bars = recorded("xrpusdt_1h")
    result = rolling_correlation(bars.tail(10), bars.tail(10), window=30)
    assert result.value == [] and result.as_of_time is None
    assert "needs 30 common returns, got 9" in result.extra["reason"]
    assert result.completeness == pytest.approx(9 / 30)
