"""The library's contract with the engine: inputs, errors, completeness, and no NaN anywhere."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import petrosa_analytics.metrics as metrics
from petrosa_analytics.metrics import (
    DEFAULT_WINDOWS,
    FAMILIES,
    METHODS,
    Bars,
    MetricResult,
    bars_needed,
    compute,
    compute_all,
    correlation,
    rolling_correlation,
)
from tests.analytics._support import MINUTE, gbm, recorded


def test_public_surface() -> None:
    assert sorted(metrics.__all__) == sorted(
        [
            "Bars",
            "MetricResult",
            "FAMILIES",
            "METHODS",
            "DEFAULT_WINDOWS",
            "bars_needed",
            "compute",
            "compute_all",
            "correlation",
            "rolling_correlation",
            "book_spread",
            "trade_delta",
        ]
    )
    assert set(FAMILIES) <= set(METHODS) and set(FAMILIES) <= set(DEFAULT_WINDOWS)


def test_compute_all_answers_every_method_of_every_family_in_strict_json() -> None:
    results = compute_all(recorded("xrpusdt_5m"))
    assert [(r.family, r.method) for r in results] == [(f, m) for f in FAMILIES for m in METHODS[f]]
    for r in results:
        json.dumps(r.to_json(), allow_nan=False)
        if r.method == "taker_delta":  # the CSV recording has no taker volume
            assert r.value is None
        else:
            assert r.value is not None, (r.method, r.extra)
        assert 0.0 < r.completeness <= 1.0
        if r.family == "seasonality":  # 1,999 bars of an 8,640-bar window
            assert r.completeness == pytest.approx(1999 / 8640)
    windows = {r.family: r.window for r in compute_all(recorded("xrpusdt_5m"), {"volume": 5})}
    assert windows["volume"] == 5 and windows["trend"] == DEFAULT_WINDOWS["trend"]


def _bars(times: list[int]) -> Bars:
    n = len(times)
    prices = np.linspace(1.0, 1.1, n) if n else np.array([])
    return Bars.from_columns(
        MINUTE,
        open_time=np.array(times, dtype=np.int64),
        open=prices,
        high=prices * 1.01,
        low=prices * 0.99,
        close=prices,
        volume=np.ones(n),
    )


@pytest.mark.parametrize("count", [0, 1])
def test_an_empty_or_one_candle_dataset_answers_clearly_never_nan(count: int) -> None:
    for r in compute_all(_bars([MINUTE * i for i in range(count)])):
        text = json.dumps(r.to_json(), allow_nan=False)  # raises on NaN or infinity
        assert "NaN" not in text
        if r.value is None:
            assert r.extra["reason"], r.method
        assert r.bars_used == count
        assert r.as_of_time == (None if count == 0 else 0)
        # One bar of the window's 2 or more: never complete; no bar: 0.
        assert r.completeness == 0.0 if count == 0 else 0.0 < r.completeness <= 0.5


def test_a_numpy_integer_window_is_a_window() -> None:
    bars = recorded("xrpusdt_1h")
    [result] = compute("trend", bars, method="sma", window=np.int64(5))  # type: ignore[arg-type]
    matrix = correlation({"A": bars, "B": bars}, window=np.int64(5))  # type: ignore[arg-type]
    for r in (result, matrix):
        assert type(r.window) is int
        json.dumps(r.to_json(), allow_nan=False)
    with pytest.raises(ValueError, match="integer"):
        compute("trend", bars, window=np.float64(5.0))  # type: ignore[arg-type]


def test_a_window_with_gaps_reports_present_over_expected_bars() -> None:
    # 8 bars spanning 10 one-minute slots: 8 / 10, not 1.0.
    bars = _bars([0, 1, 2, 3, 5, 6, 8, 9])
    bars = Bars.from_columns(
        MINUTE,
        **{f: getattr(bars, f) for f in ("open", "high", "low", "close", "volume")},
        open_time=bars.open_time * MINUTE,
    )
    [sma] = compute("trend", bars, method="sma", window=8)
    assert sma.bars_used == 8
    assert sma.completeness == pytest.approx(0.8)
    # Fewer bars than the window asks for: 8 of 20.
    [short] = compute("trend", bars, method="sma", window=20)
    assert short.completeness == pytest.approx(8 / 20)


@pytest.mark.parametrize(
    ("family", "method", "window", "message"),
    [
        ("momentum", None, None, "unknown metric family"),
        ("correlation", None, None, "unknown metric family"),
        ("volatility", "atr", None, "unknown volatility method"),
        ("volatility", None, 1, "at least 2"),
        ("volatility", None, 2.5, "at least 2"),
        ("volatility", None, True, "at least 2"),
        ("x" * 5000, None, None, "x" * 40 + "'"),
    ],
)
def test_unknown_family_method_or_bad_window_is_a_clear_error(
    family: str, method: str | None, window: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        compute(family, _bars([0, MINUTE]), method=method, window=window)  # type: ignore[arg-type]
    assert len(str(caught.value)) < 300
    with pytest.raises(ValueError, match="unknown families"):
        compute_all(_bars([0]), {"momentum": 5})


def test_bars_refuse_unsorted_duplicate_or_ragged_columns() -> None:
    with pytest.raises(ValueError, match="interval_ms must be positive"):
        Bars.from_columns(
            0, open_time=np.array([0]), open=[1.0], high=[1.0], low=[1.0], close=[1.0]
        )
    with pytest.raises(ValueError, match="ascending"):
        _bars([0, MINUTE, MINUTE])
    with pytest.raises(ValueError, match="ascending"):
        _bars([MINUTE, 0])
    with pytest.raises(ValueError, match="shape"):
        Bars.from_columns(
            MINUTE,
            open_time=np.array([0, 1]),
            open=[1.0],
            high=[1.0, 1.0],
            low=[1.0, 1.0],
            close=[1.0, 1.0],
        )
    with pytest.raises(ValueError, match="missing columns"):
        Bars.from_columns(MINUTE, open_time=np.array([0]), open=[1.0])
    with pytest.raises(ValueError, match="unknown columns"):
        Bars.from_columns(
            MINUTE,
            open_time=np.array([0]),
            open=[1.0],
            high=[1.0],
            low=[1.0],
            close=[1.0],
            colour=["green"],
        )


@pytest.mark.parametrize(
    "time_type", [pa.int64(), pa.timestamp("ms", tz="UTC"), pa.timestamp("us", tz="UTC")]
)
def test_from_arrow_takes_candle_columns_and_drops_open_candles(time_type: pa.DataType) -> None:
    times = [0, MINUTE, 2 * MINUTE]
    raw = pa.array(times, pa.int64())
    column = (
        raw if time_type == pa.int64() else raw.cast(pa.timestamp("ms", tz="UTC")).cast(time_type)
    )
    table = pa.table(
        {
            "symbol": ["XRPUSDT"] * 3,
            "interval": ["1m"] * 3,
            "open_time": column,
            "close_time": column,
            "open": [1.0, 2.0, 3.0],
            "high": [1.5, 2.5, 3.5],
            "low": [0.5, 1.5, 2.5],
            "close": [1.2, 2.2, 3.2],
            "volume": [10.0, 20.0, 30.0],
            "quote_volume": [12.0, 44.0, 96.0],
            "trade_count": pa.array([1, None, 3], pa.int64()),
            "taker_buy_base_volume": pa.array([4.0, None, 6.0]),
            "taker_buy_quote_volume": [5.0, 9.0, 19.0],
            "is_closed": [True, True, False],
        }
    )
    bars = Bars.from_arrow(table, MINUTE)
    assert bars.open_time.tolist() == times[:2]
    # SQLite and MariaDB reads may carry the flag as 0/1 integers, possibly null.
    as_integers = table.set_column(
        table.schema.get_field_index("is_closed"), "is_closed", pa.array([1, None, 0], pa.int64())
    )
    assert Bars.from_arrow(as_integers, MINUTE).open_time.tolist() == [0]
    assert bars.close.tolist() == [1.2, 2.2]
    assert bars.trade_count.tolist() == [1, 0]
    assert math.isnan(bars.taker_buy_base_volume[1])  # null stays "not recorded"
    [delta] = compute("volume", bars, method="taker_delta", window=2)
    assert delta.value is None


def test_result_json_turns_nested_nan_and_infinity_into_none() -> None:
    r = MetricResult(
        "x",
        "y",
        2,
        {"a": [1.0, float("nan"), {"b": float("inf")}]},
        0,
        1.0,
        2,
        {"c": np.float64("nan"), "d": np.array([1.0, np.inf])},
    )
    assert r.to_json()["value"] == {"a": [1.0, None, {"b": None}]}
    assert r.to_json()["c"] is None and r.to_json()["d"] == [1.0, None]


ODD_PRICES = st.one_of(
    st.floats(min_value=1e-300, max_value=1e300),
    st.sampled_from([0.0, -1.0, float("nan"), float("inf"), 5e-324]),
)


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(st.tuples(ODD_PRICES, ODD_PRICES, ODD_PRICES, ODD_PRICES), max_size=60),
    volumes=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=60, max_size=60),
    steps=st.lists(st.integers(min_value=1, max_value=3), min_size=60, max_size=60),
)
def test_any_candles_however_odd_give_strict_json_and_a_reason_for_every_null(
    prices: list[tuple[float, float, float, float]], volumes: list[float], steps: list[int]
) -> None:
    n = len(prices)
    times = np.cumsum(np.array(steps[:n], dtype=np.int64)) * MINUTE
    o, h, lo, c = (np.array([p[i] for p in prices], dtype=np.float64) for i in range(4))
    bars = Bars.from_columns(
        MINUTE,
        open_time=times,
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=np.array(volumes[:n]),
        taker_buy_base_volume=np.array(volumes[:n]),
    )
    results = [*compute_all(bars, {f: 5 for f in FAMILIES})]
    results.append(correlation({"A": bars, "B": bars}, window=5))
    results.append(rolling_correlation(bars, bars, window=3))
    for r in results:
        json.dumps(r.to_json(), allow_nan=False)
        if r.value is None:
            assert r.extra.get("reason"), (r.family, r.method)
        assert 0.0 <= r.completeness <= 1.0


@pytest.mark.parametrize("window", [2, 7, 26])
def test_bars_needed_is_exactly_what_each_method_reads_for_a_complete_result(window: int) -> None:
    history = gbm(3000, 1e-3, seed=3).bars
    for family in FAMILIES:
        for method in METHODS[family]:
            needed = bars_needed(family, window, method)
            [full] = compute(family, history, method=method, window=window)
            assert (full.bars_used, full.completeness) == (needed, 1.0), (family, method)
            [short] = compute(family, history.tail(needed - 1), method=method, window=window)
            assert short.completeness < 1.0, (family, method)
        family_needs = max(bars_needed(family, window, m) for m in METHODS[family])
        assert bars_needed(family, window) == family_needs
    pairs = {"A": history.tail(window + 1), "B": history.tail(window + 1)}
    assert bars_needed("correlation", window) == window + 1
    assert correlation(pairs, window=window).completeness == 1.0
    with pytest.raises(ValueError, match="unknown correlation method"):
        bars_needed("correlation", window, "kendall")
    with pytest.raises(ValueError, match="unknown metric family"):
        bars_needed("momentum", window)
