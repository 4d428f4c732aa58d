"""Candle spread estimators against loop references of their papers; quoted spread from quotes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from petrosa_analytics.metrics import Bars, book_spread, compute
from tests.analytics._support import CANDLE_FILES, recorded, recorded_book_tickers, rows_of

WINDOW = 20


def adjacent_pairs(bars: Bars, window: int) -> list[tuple[dict[str, float], dict[str, float]]]:
    rows = rows_of(bars)[-(window + 1) :]
    return [
        (a, b)
        for a, b in zip(rows, rows[1:], strict=False)
        if b["open_time"] - a["open_time"] == bars.interval_ms
    ]


def ref_corwin_schultz(bars: Bars, window: int) -> float:
    """Corwin & Schultz (2012): two-day estimates, negatives to 0, overnight returns adjusted."""
    spreads = []
    for a, b in adjacent_pairs(bars, window):
        h2, l2 = b["high"], b["low"]
        if l2 > a["close"]:
            h2, l2 = h2 - (l2 - a["close"]), a["close"]
        elif h2 < a["close"]:
            h2, l2 = a["close"], l2 + (a["close"] - h2)
        beta = math.log(a["high"] / a["low"]) ** 2 + math.log(h2 / l2) ** 2
        gamma = math.log(max(a["high"], h2) / min(a["low"], l2)) ** 2
        denominator = 3 - 2 * math.sqrt(2)
        alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / denominator - math.sqrt(
            gamma / denominator
        )
        s = 2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha))
        spreads.append(max(s, 0.0))
    return sum(spreads) / len(spreads)


def ref_abdi_ranaldo(bars: Bars, window: int) -> float:
    """Abdi & Ranaldo (2017): S^2 = 4 E[(c_t - eta_t)(c_t - eta_t+1)], floored at 0."""
    products = []
    for a, b in adjacent_pairs(bars, window):
        eta_a = (math.log(a["high"]) + math.log(a["low"])) / 2
        eta_b = (math.log(b["high"]) + math.log(b["low"])) / 2
        c = math.log(a["close"])
        products.append((c - eta_a) * (c - eta_b))
    return math.sqrt(max(4 * sum(products) / len(products), 0.0))


def ref_amihud(bars: Bars, window: int) -> float:
    """Amihud (2002): mean of |R_t| / dollar volume_t, R the simple return (dollar volume here
    close x base volume: the recording has no quote volume)."""
    ratios = [
        abs(b["close"] / a["close"] - 1) / (b["close"] * b["volume"])
        for a, b in adjacent_pairs(bars, window)
        if b["volume"] > 0
    ]
    return sum(ratios) / len(ratios)


REFERENCES = {
    "corwin_schultz": ref_corwin_schultz,
    "abdi_ranaldo": ref_abdi_ranaldo,
    "amihud": ref_amihud,
}


@pytest.mark.parametrize("dataset", sorted(CANDLE_FILES))
@pytest.mark.parametrize("method", sorted(REFERENCES))
@pytest.mark.parametrize("window", [WINDOW, 200])
def test_each_estimator_matches_its_formula_on_recorded_candles(
    dataset: str, method: str, window: int
) -> None:
    bars = recorded(dataset)
    [result] = compute("spread", bars, method=method, window=window)
    assert result.value == pytest.approx(REFERENCES[method](bars, window), rel=1e-9, abs=1e-15)


def test_corwin_schultz_shifts_a_gapped_bar_so_the_jump_is_not_read_as_spread() -> None:
    # Two bars of about 1 % range, the second wholly above the first close (its low): shifted
    # down to that close they overlap and carry a spread; unshifted, gamma would take in the
    # 10 % jump and the two-bar estimate would be negative, hence 0.
    bars = Bars.from_columns(
        60_000,
        open_time=np.array([0, 60_000]),
        open=np.array([101.0, 110.0]),
        high=np.array([101.0, 111.1]),
        low=np.array([100.0, 110.0]),
        close=np.array([100.0, 110.5]),
    )
    [result] = compute("spread", bars, method="corwin_schultz", window=2)
    assert result.value == pytest.approx(ref_corwin_schultz(bars, 2), rel=1e-12)
    assert isinstance(result.value, float) and result.value > 0


def test_quoted_spread_and_mid_from_recorded_book_tickers() -> None:
    bid, ask, times = recorded_book_tickers("SUSHIUSDT")
    result = book_spread(bid, ask, times)
    assert isinstance(result.value, dict)
    assert result.value["mid"] == pytest.approx((bid[-1] + ask[-1]) / 2, rel=1e-12)
    assert result.value["quoted_spread"] == pytest.approx(ask[-1] - bid[-1], rel=1e-12)
    relative = [(a - b) / ((a + b) / 2) for a, b in zip(ask.tolist(), bid.tolist(), strict=True)]
    assert result.value["mean_relative_spread"] == pytest.approx(
        sum(relative) / len(relative), rel=1e-9
    )
    assert result.as_of_time == int(times[-1])


def test_crossed_or_empty_quotes_are_left_out_and_counted() -> None:
    result = book_spread(
        np.array([10.0, 10.2, 0.0]), np.array([10.1, 10.1, 1.0]), np.array([1, 2, 3])
    )
    assert result.extra["invalid_quotes"] == 2
    assert result.as_of_time == 1
    empty = book_spread(np.array([10.2]), np.array([10.1]), np.array([5]))
    assert empty.value is None and empty.extra["reason"] == "no valid quote"
    with pytest.raises(ValueError, match="one length"):
        book_spread(np.array([1.0]), np.array([1.0, 2.0]), np.array([1]))
