"""Volume metrics against loop references; taker delta from Binance's recorded taker-buy volume."""

from __future__ import annotations

import math

import numpy as np
import pytest

from petrosa_analytics.metrics import Bars, compute, trade_delta
from tests.analytics._support import (
    CANDLE_FILES,
    recorded,
    recorded_agg_trades,
    recorded_kline_frames,
    rows_of,
)

WINDOW = 20


def ref_ema(values: list[float], span: int) -> float:
    alpha = 2 / (span + 1)
    level = values[0]
    for v in values[1:]:
        level = alpha * v + (1 - alpha) * level
    return level


@pytest.mark.parametrize("dataset", sorted(CANDLE_FILES))
def test_total_sma_ema_spike_and_vwap_match_their_formulas(dataset: str) -> None:
    bars = recorded(dataset)
    rows = rows_of(bars)
    volumes = [r["volume"] for r in rows]
    results = {r.method: r for r in compute("volume", bars, window=WINDOW)}
    assert results["total"].value == pytest.approx(math.fsum(volumes[-WINDOW:]), rel=1e-12)
    assert results["sma"].value == pytest.approx(math.fsum(volumes[-WINDOW:]) / WINDOW, rel=1e-12)
    assert results["ema"].value == pytest.approx(ref_ema(volumes[-10 * WINDOW :], WINDOW), rel=1e-9)
    baseline = math.fsum(volumes[-WINDOW - 1 : -1]) / WINDOW
    assert results["spike_ratio"].value == pytest.approx(volumes[-1] / baseline, rel=1e-12)
    # No quote volume in these recordings: VWAP falls back to the typical price, and says so.
    typical = [(r["high"] + r["low"] + r["close"]) / 3 for r in rows[-WINDOW:]]
    expected = math.fsum(
        t * v for t, v in zip(typical, volumes[-WINDOW:], strict=True)
    ) / math.fsum(volumes[-WINDOW:])
    assert results["vwap"].value == pytest.approx(expected, rel=1e-12)
    assert results["vwap"].extra["source"] == "typical_price"


def test_taker_delta_and_vwap_use_the_klines_recorded_taker_and_quote_volume() -> None:
    bars = recorded_kline_frames("SUSHIUSDT")
    rows = rows_of(bars)
    window = len(rows)
    [delta] = compute("volume", bars, method="taker_delta", window=window)
    buy = math.fsum(r["taker_buy_base_volume"] for r in rows)
    sell = math.fsum(r["volume"] - r["taker_buy_base_volume"] for r in rows)
    assert buy != sell  # a real imbalance, not the candle-colour split
    assert delta.value == pytest.approx(buy - sell, rel=1e-12)
    assert delta.extra["imbalance"] == pytest.approx((buy - sell) / (buy + sell), rel=1e-12)
    [vwap] = compute("volume", bars, method="vwap", window=window)
    expected = math.fsum(r["quote_volume"] for r in rows) / math.fsum(r["volume"] for r in rows)
    assert vwap.value == pytest.approx(expected, rel=1e-12)
    assert vwap.extra["source"] == "quote_volume"


def test_taker_delta_of_candles_without_taker_volume_says_so_instead_of_guessing() -> None:
    [delta] = compute("volume", recorded("xrpusdt_5m"), method="taker_delta")
    assert delta.value is None
    assert "taker-buy" in delta.extra["reason"]


def test_trade_delta_signs_each_recorded_agg_trade_by_its_aggressor() -> None:
    trades = recorded_agg_trades("SUSHIUSDT")
    assert trades
    expected = 0.0
    for t in trades:
        quantity = float(str(t["q"]))
        expected += -quantity if t["m"] else quantity
    result = trade_delta(
        np.array([float(str(t["q"])) for t in trades]),
        np.array([float(str(t["p"])) for t in trades]),
        np.array([bool(t["m"]) for t in trades]),
        np.array([int(str(t["T"])) for t in trades]),
    )
    assert result.value == pytest.approx(expected, rel=1e-12, abs=1e-9)
    assert result.bars_used == len(trades)


def test_spike_ratio_after_silent_bars_is_undefined_with_a_reason() -> None:
    n = 25
    bars = Bars.from_columns(
        60_000,
        open_time=np.arange(n) * 60_000,
        open=np.ones(n),
        high=np.ones(n),
        low=np.ones(n),
        close=np.ones(n),
        volume=np.r_[np.zeros(n - 1), 5.0],
    )
    [spike] = compute("volume", bars, method="spike_ratio")
    assert spike.value is None and "no volume" in spike.extra["reason"]


def test_trade_delta_of_no_trades_or_ragged_columns() -> None:
    empty = np.array([])
    nothing = trade_delta(empty, empty, empty.astype(bool), empty.astype(np.int64))
    assert nothing.value is None and nothing.extra["reason"] == "no trades"
    with pytest.raises(ValueError, match="one length"):
        trade_delta(np.ones(2), np.ones(2), np.ones(1, bool), np.ones(2, np.int64))


def test_vwap_of_a_window_without_volume_is_undefined() -> None:
    n = 5
    bars = Bars.from_columns(
        60_000,
        open_time=np.arange(n) * 60_000,
        open=np.ones(n),
        high=np.ones(n),
        low=np.ones(n),
        close=np.ones(n),
        volume=np.zeros(n),
    )
    [vwap] = compute("volume", bars, method="vwap", window=n)
    assert vwap.value is None and "no volume" in vwap.extra["reason"]
