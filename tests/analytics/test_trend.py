"""Trend metrics against loop references: SMA, EMA, crossovers, MACD (Appel), ADX (Wilder)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from petrosa_analytics.metrics import Bars, compute
from petrosa_analytics.metrics._recursive import decay_filter
from tests.analytics._support import CANDLE_FILES, recorded, rows_of

WINDOW = 26


def ema_path(values: list[float], span: int) -> list[float]:
    alpha = 2 / (span + 1)
    out = [values[0]]
    for v in values[1:]:
        out.append(alpha * v + (1 - alpha) * out[-1])
    return out


def ref_adx(rows: list[dict[str, float]], period: int) -> tuple[float, float, float]:
    """Wilder (1978) in his own running-sum form: TR14 = TR14 - TR14/14 + TR."""
    trs, pdms, mdms = [], [], []
    for prev, cur in zip(rows, rows[1:], strict=False):
        trs.append(
            max(
                cur["high"] - cur["low"],
                abs(cur["high"] - prev["close"]),
                abs(cur["low"] - prev["close"]),
            )
        )
        up, down = cur["high"] - prev["high"], prev["low"] - cur["low"]
        pdms.append(up if up > down and up > 0 else 0.0)
        mdms.append(down if down > up and down > 0 else 0.0)
    tr_s, p_s, m_s = sum(trs[:period]), sum(pdms[:period]), sum(mdms[:period])
    dxs = []
    for i in range(period - 1, len(trs)):
        if i >= period:
            tr_s += trs[i] - tr_s / period
            p_s += pdms[i] - p_s / period
            m_s += mdms[i] - m_s / period
        plus, minus = 100 * p_s / tr_s, 100 * m_s / tr_s
        dxs.append(100 * abs(plus - minus) / (plus + minus) if plus + minus else 0.0)
    adx = sum(dxs[:period]) / period
    for dx in dxs[period:]:
        adx = (adx * (period - 1) + dx) / period
    return adx, plus, minus


@pytest.mark.parametrize("dataset", sorted(CANDLE_FILES))
def test_sma_ema_macd_and_adx_match_their_definitions(dataset: str) -> None:
    bars = recorded(dataset)
    rows = rows_of(bars)
    closes = [r["close"] for r in rows]
    got = {r.method: r for r in compute("trend", bars, window=WINDOW)}
    assert got["sma"].value == pytest.approx(sum(closes[-WINDOW:]) / WINDOW, rel=1e-12)
    assert got["ema"].value == pytest.approx(
        ema_path(closes[-10 * WINDOW :], WINDOW)[-1], rel=1e-12
    )
    tail = closes[-10 * (26 + 9) :]
    line = [f - s for f, s in zip(ema_path(tail, 12), ema_path(tail, 26), strict=True)]
    signal = ema_path(line, 9)
    macd = got["macd"]
    assert (macd.extra["fast_period"], macd.extra["slow_period"], macd.extra["signal_period"]) == (
        12,
        26,
        9,
    )
    assert macd.value == pytest.approx(line[-1], rel=1e-9, abs=1e-12)
    assert macd.extra["signal"] == pytest.approx(signal[-1], rel=1e-9, abs=1e-12)
    assert macd.extra["histogram"] == pytest.approx(line[-1] - signal[-1], rel=1e-7, abs=1e-12)
    adx, plus, minus = ref_adx(rows[-(40 * 14 + 1) :], 14)
    assert got["adx"].extra["period"] == 14
    assert got["adx"].value == pytest.approx(adx, rel=1e-9)
    assert got["adx"].extra["plus_di"] == pytest.approx(plus, rel=1e-9)
    assert got["adx"].extra["minus_di"] == pytest.approx(minus, rel=1e-9)


@pytest.mark.parametrize("dataset", sorted(CANDLE_FILES))
def test_crossovers_report_the_last_sign_change_of_fast_minus_slow(dataset: str) -> None:
    bars = recorded(dataset)
    rows = rows_of(bars)
    closes = [r["close"] for r in rows]
    [sma_cross] = compute("trend", bars, method="sma_crossover", window=WINDOW)
    diffs = []
    for end in range(len(closes) - WINDOW, len(closes)):
        fast = sum(closes[end - 11 : end + 1]) / 12
        slow = sum(closes[end - 25 : end + 1]) / 26
        diffs.append((fast - slow, rows[end]["open_time"]))
    assert sma_cross.value == pytest.approx(diffs[-1][0], rel=1e-9, abs=1e-12)
    crosses = [t for (a, _), (b, t) in zip(diffs, diffs[1:], strict=False) if (a > 0) != (b > 0)]
    assert sma_cross.extra["last_cross_time"] == (crosses[-1] if crosses else None)
    assert sma_cross.extra["state"] == ("above" if diffs[-1][0] > 0 else "below")


@pytest.mark.parametrize("dataset", sorted(CANDLE_FILES))
def test_linear_regression_slope_and_r_squared_on_time_in_bars(dataset: str) -> None:
    bars = recorded(dataset)
    rows = rows_of(bars)[-WINDOW:]
    xs = [(r["open_time"] - rows[0]["open_time"]) / bars.interval_ms for r in rows]
    ys = [r["close"] for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    [result] = compute("trend", bars, method="linear_regression", window=WINDOW)
    assert result.value == pytest.approx(sxy / sxx, rel=1e-9)
    assert result.extra["r_squared"] == pytest.approx(sxy * sxy / (sxx * syy), rel=1e-9)


@pytest.mark.parametrize("decay", [0.0, 1e-20, 0.5, 0.9, 0.99, 0.9999])
def test_block_recursion_equals_the_plain_loop_over_long_series(decay: float) -> None:
    x = np.random.default_rng(3).normal(size=50_001)
    expected, level = [], 0.0
    for v in x.tolist():
        level = decay * level + v
        expected.append(level)
    np.testing.assert_allclose(decay_filter(x, decay), expected, rtol=1e-10, atol=1e-10)


def test_adx_of_a_flat_market_is_zero_not_undefined() -> None:
    n = 100
    flat = Bars.from_columns(
        60_000,
        open_time=np.arange(n) * 60_000,
        open=np.ones(n),
        high=np.ones(n),
        low=np.ones(n),
        close=np.ones(n),
    )
    [adx] = compute("trend", flat, method="adx")
    assert adx.value == 0.0
    assert adx.extra["plus_di"] is None  # 0/0: no range at all, so no direction to report
    assert not math.isnan(adx.completeness)
