"""Volatility estimators against loop references from their papers' formulas, on real candles
and on a GBM of known sigma."""

from __future__ import annotations

import math
import statistics

import pytest

from petrosa_analytics.metrics import Bars, compute
from tests.analytics._support import CANDLE_FILES, gbm, recorded, rows_of

WINDOW = 30
LN2 = math.log(2)


def last_with_predecessor(
    bars: Bars, window: int
) -> list[tuple[dict[str, float], dict[str, float]]]:
    """(previous, current) row pairs one interval apart among the last window + 1 bars."""
    rows = rows_of(bars)[-(window + 1) :]
    return [
        (p, c)
        for p, c in zip(rows, rows[1:], strict=False)
        if c["open_time"] - p["open_time"] == bars.interval_ms
    ]


def ref_close_to_close(bars: Bars, window: int) -> float:
    returns = [math.log(c["close"] / p["close"]) for p, c in last_with_predecessor(bars, window)]
    return statistics.stdev(returns)


def ref_parkinson(bars: Bars, window: int) -> float:
    rows = rows_of(bars)[-window:]
    total = sum(math.log(r["high"] / r["low"]) ** 2 for r in rows)
    return math.sqrt(total / (4 * len(rows) * LN2))


def ref_garman_klass(bars: Bars, window: int) -> float:
    rows = rows_of(bars)[-window:]
    total = 0.0
    for r in rows:
        total += 0.5 * math.log(r["high"] / r["low"]) ** 2
        total -= (2 * LN2 - 1) * math.log(r["close"] / r["open"]) ** 2
    return math.sqrt(total / len(rows))


def rs_term(r: dict[str, float]) -> float:
    h, lo, o, c = r["high"], r["low"], r["open"], r["close"]
    return math.log(h / c) * math.log(h / o) + math.log(lo / c) * math.log(lo / o)


def ref_rogers_satchell(bars: Bars, window: int) -> float:
    rows = rows_of(bars)[-window:]
    return math.sqrt(sum(rs_term(r) for r in rows) / len(rows))


def ref_yang_zhang(bars: Bars, window: int) -> float:
    pairs = last_with_predecessor(bars, window)
    n = len(pairs)
    overnight = [math.log(c["open"] / p["close"]) for p, c in pairs]
    open_close = [math.log(c["close"] / c["open"]) for _, c in pairs]
    rs = sum(rs_term(c) for _, c in pairs) / n
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    return math.sqrt(
        statistics.variance(overnight) + k * statistics.variance(open_close) + (1 - k) * rs
    )


def ref_vol_of_vol(bars: Bars, window: int) -> float:
    rows = rows_of(bars)[-2 * window :]
    vols = []
    for end in range(window, len(rows)):
        chunk = rows[end - window : end + 1]
        returns = [
            math.log(c["close"] / p["close"])
            for p, c in zip(chunk, chunk[1:], strict=False)
            if c["open_time"] - p["open_time"] == bars.interval_ms
        ]
        if len(returns) >= 2:
            vols.append(statistics.stdev(returns))
    return statistics.stdev(vols)


REFERENCES = {
    "close_to_close": ref_close_to_close,
    "parkinson": ref_parkinson,
    "garman_klass": ref_garman_klass,
    "rogers_satchell": ref_rogers_satchell,
    "yang_zhang": ref_yang_zhang,
    "vol_of_vol": ref_vol_of_vol,
}


@pytest.mark.parametrize("dataset", sorted(CANDLE_FILES))
@pytest.mark.parametrize("method", sorted(REFERENCES))
@pytest.mark.parametrize("window", [WINDOW, 7])
def test_each_estimator_matches_its_formula_on_recorded_candles(
    dataset: str, method: str, window: int
) -> None:
    bars = recorded(dataset)
    [result] = compute("volatility", bars, method=method, window=window)
    expected = REFERENCES[method](bars, window)
    assert result.value == pytest.approx(expected, rel=1e-9)
    assert result.extra["annualized"] == pytest.approx(
        expected * math.sqrt(365 * 86_400_000 / bars.interval_ms), rel=1e-9
    )
    assert result.as_of_time == int(bars.open_time[-1])


def test_estimators_over_a_window_with_gaps_use_only_adjacent_returns() -> None:
    bars = recorded("xrpeth_1m_gaps")
    [result] = compute("volatility", bars, method="close_to_close", window=WINDOW)
    adjacent = len(last_with_predecessor(bars, WINDOW))
    assert adjacent < WINDOW  # the recording's own missing minutes fall inside this window
    assert result.extra["returns_used"] == adjacent
    assert result.completeness < 1.0


# The relative sampling error of sigma-hat over n bars is sqrt(V / n) / 2, where V is the
# per-bar variance of the estimator's sigma^2 term over sigma^4: close-to-close 2; Parkinson
# 9 zeta(3) / (4 ln 2)^2 - 1 = 0.4073 (the Brownian range's fourth moment); Garman-Klass 0.27
# (their efficiency 7.4); Rogers-Satchell 0.331 (Rogers, Satchell & Yoon 1994). Yang-Zhang with
# no opening jump is k * open-close + (1 - k) * RS, bounded by (k sqrt(2) + (1 - k) sqrt(0.331))^2
# by Cauchy-Schwarz, k = 0.34 / 1.34 at this n.
GBM_BARS = 100_000
VARIANCE_FACTOR = {
    "close_to_close": 2.0,
    "parkinson": 0.4073,
    "garman_klass": 0.27,
    "rogers_satchell": 0.331,
    "yang_zhang": (0.2537 * math.sqrt(2.0) + 0.7463 * math.sqrt(0.331)) ** 2,
}
STANDARD_ERRORS = 4


@pytest.fixture(scope="module")
def simulated() -> tuple[Bars, float]:
    run = gbm(GBM_BARS + 1, sigma=0.004, substeps=32)
    return run.bars, run.sigma


@pytest.mark.parametrize("method", sorted(VARIANCE_FACTOR))
def test_each_estimator_recovers_the_true_sigma_of_a_gbm_within_its_sampling_error(
    simulated: tuple[Bars, float], method: str
) -> None:
    bars, sigma = simulated
    [result] = compute("volatility", bars, method=method, window=GBM_BARS)
    assert isinstance(result.value, float)
    tolerance = STANDARD_ERRORS * 0.5 * math.sqrt(VARIANCE_FACTOR[method] / GBM_BARS)
    assert abs(result.value / sigma - 1) < tolerance


def test_vol_of_vol_rises_when_the_true_sigma_changes_inside_its_span(
    simulated: tuple[Bars, float],
) -> None:
    bars, sigma = simulated
    steady = gbm(800, sigma=sigma, seed=7).bars
    calm, wild = gbm(400, sigma=sigma, seed=8).bars, gbm(400, sigma=3 * sigma, seed=9).bars
    # The same path shape, its second half with three times the volatility.
    shift = math.log(float(calm.close[-1]))
    switching = Bars.from_columns(
        steady.interval_ms,
        open_time=steady.open_time,
        **{
            name: [
                *getattr(calm, name),
                *(float(x) * math.exp(shift) / 100.0 for x in getattr(wild, name)),
            ]
            for name in ("open", "high", "low", "close")
        },
    )
    [quiet] = compute("volatility", steady, method="vol_of_vol", window=400)
    [moving] = compute("volatility", switching, method="vol_of_vol", window=400)
    assert isinstance(quiet.value, float) and isinstance(moving.value, float)
    # Rolling sigma walks from sigma to 3 sigma across the second window: its spread is of
    # order sigma, far above the sampling noise (sigma / sqrt(800)) of a steady path.
    assert moving.value > 0.5 * sigma > 5 * quiet.value
