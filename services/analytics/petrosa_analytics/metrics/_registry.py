"""Which methods each family has, their default windows, and the dispatch to them."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping

import numpy as np

from petrosa_analytics.metrics import (
    _deviation,
    _regime,
    _seasonality,
    _spread,
    _trend,
    _volatility,
    _volume,
)
from petrosa_analytics.metrics._bars import Bars
from petrosa_analytics.metrics._result import MetricResult

Method = Callable[[Bars, int], MetricResult]

_IMPLEMENTATIONS: dict[str, Mapping[str, Method]] = {
    "volatility": _volatility.METHODS,
    "volume": _volume.METHODS,
    "spread": _spread.METHODS,
    "trend": _trend.METHODS,
    "deviation": _deviation.METHODS,
    "seasonality": _seasonality.METHODS,
    "regime": _regime.METHODS,
}

FAMILIES: tuple[str, ...] = (
    "volatility",
    "volume",
    "spread",
    "trend",
    "deviation",
    "seasonality",
    "regime",
)
METHODS: dict[str, tuple[str, ...]] = {
    "volatility": (
        "close_to_close",
        "parkinson",
        "garman_klass",
        "rogers_satchell",
        "yang_zhang",
        "vol_of_vol",
    ),
    "volume": ("total", "sma", "ema", "spike_ratio", "vwap", "taker_delta"),
    "spread": ("corwin_schultz", "abdi_ranaldo", "amihud"),
    "trend": ("sma", "ema", "sma_crossover", "ema_crossover", "macd", "adx", "linear_regression"),
    "deviation": ("zscore", "bollinger_percent_b", "mad"),
    "seasonality": ("hour_of_day", "day_of_week"),
    "regime": ("volatility_trend",),
    "correlation": ("pearson", "spearman"),
}
# In bars. Why each: 30 bars is the usual minimum for a stable variance; 20 the usual volume,
# spread and Bollinger length; 26 makes MACD 12/26/9 and ADX 14 (see docs); seasonality and
# the regime need a long history to have a profile or a percentile at all.
DEFAULT_WINDOWS: dict[str, int] = {
    "volatility": 30,
    "volume": 20,
    "spread": 20,
    "trend": 26,
    "deviation": 20,
    "seasonality": 8640,
    "regime": 2000,
    "correlation": 288,
}


def _signal(window: int) -> int:
    return _trend.scaled(window, 9)


def _adx_period(window: int) -> int:
    return _trend.scaled(window, 14)


_SPANS = _volume.WARMUP_SPANS
_WILDER = _trend.WILDER_WARMUP_PERIODS
# Bars each method reads for a full-quality result over ``window``: the engine loads at least
# this many (a test holds each method to its figure).
_BARS_NEEDED: dict[str, dict[str, Callable[[int], int]]] = {
    "volatility": {
        "close_to_close": lambda w: w + 1,
        "parkinson": lambda w: w,
        "garman_klass": lambda w: w,
        "rogers_satchell": lambda w: w,
        "yang_zhang": lambda w: w + 1,
        "vol_of_vol": lambda w: 2 * w,
    },
    "volume": {
        "total": lambda w: w,
        "sma": lambda w: w,
        "ema": lambda w: _SPANS * w,
        "spike_ratio": lambda w: w + 1,
        "vwap": lambda w: w,
        "taker_delta": lambda w: w,
    },
    "spread": {m: (lambda w: w + 1) for m in METHODS["spread"]},
    "trend": {
        "sma": lambda w: w,
        "ema": lambda w: _SPANS * w,
        "sma_crossover": lambda w: 2 * w - 1,
        "ema_crossover": lambda w: _SPANS * w + w,
        "macd": lambda w: _SPANS * (w + _signal(w)),
        "adx": lambda w: 2 * _WILDER * _adx_period(w) + 1,
        "linear_regression": lambda w: w,
    },
    "deviation": {m: (lambda w: w) for m in METHODS["deviation"]},
    "seasonality": {m: (lambda w: w) for m in METHODS["seasonality"]},
    "regime": {"volatility_trend": lambda w: w},
    "correlation": {m: (lambda w: w + 1) for m in METHODS["correlation"]},
}


def bars_needed(family: str, window: int | None = None, method: str | None = None) -> int:
    """How many of the newest bars to load so every method asked for (all of the family's
    when ``method`` is None) computes over its full window and warm-up."""
    if family == "correlation":
        chosen = _check_correlation(method, window)
    else:
        chosen = _check(family, method, window)
    names = METHODS[family] if method is None else (method,)
    return max(_BARS_NEEDED[family][name](chosen) for name in names)


def _check_correlation(method: str | None, window: int | None) -> int:
    if method is not None and method not in METHODS["correlation"]:
        raise ValueError(f"unknown correlation method {method[:40]!r}; known: pearson, spearman")
    return _window(DEFAULT_WINDOWS["correlation"] if window is None else window)


def _window(chosen: object) -> int:
    """An integer of at least 2 (numpy integers too; not a bool, not a float)."""
    if isinstance(chosen, bool | np.bool_) or not isinstance(chosen, numbers.Integral):
        raise ValueError(f"window must be an integer of at least 2 bars, got {chosen!r}")
    if chosen < 2:
        raise ValueError(f"window must be an integer of at least 2 bars, got {chosen!r}")
    return int(chosen)


def _check(family: str, method: str | None, window: int | None) -> int:
    if family not in METHODS or family == "correlation":
        known = ", ".join(FAMILIES)
        raise ValueError(f"unknown metric family {family[:40]!r}; known: {known}")
    if method is not None and method not in METHODS[family]:
        known = ", ".join(METHODS[family])
        raise ValueError(f"unknown {family} method {method[:40]!r}; known: {known}")
    return _window(DEFAULT_WINDOWS[family] if window is None else window)


def compute(
    family: str, bars: Bars, *, method: str | None = None, window: int | None = None
) -> list[MetricResult]:
    """Every method of ``family`` (or the one named) over the last ``window`` bars of ``bars``."""
    chosen = _check(family, method, window)
    implementations = _IMPLEMENTATIONS[family]
    names = METHODS[family] if method is None else (method,)
    # A bad price (0, negative, NaN) makes a non-finite figure, which the result turns into
    # None with a reason; numpy's warnings on the way are expected, not news.
    with np.errstate(all="ignore"):
        return [implementations[name](bars, chosen) for name in names]


def compute_all(bars: Bars, windows: Mapping[str, int] | None = None) -> list[MetricResult]:
    """Every method of every family, each family over its window (``windows`` or the default)."""
    chosen = windows or {}
    unknown = set(chosen) - set(METHODS)
    if unknown:
        raise ValueError(f"windows for unknown families {sorted(unknown)}")
    out: list[MetricResult] = []
    for family in FAMILIES:
        out.extend(compute(family, bars, window=chosen.get(family)))
    return out
