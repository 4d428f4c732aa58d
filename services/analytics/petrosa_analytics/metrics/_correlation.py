"""Pearson and Spearman correlation of log returns across pairs, aligned exactly on open time.

A return exists at bar t only when bars t and t - interval are both present. For each pair of
series only the slots where both have a return count: a missing bar drops that slot from that
pair's calculation and is never filled.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from petrosa_analytics.metrics._bars import Bars, FloatArray, adjacent_log_returns
from petrosa_analytics.metrics._result import MetricResult
from petrosa_analytics.metrics._rolling import rolling_sum

CORRELATION_METHODS = ("pearson", "spearman")
MIN_OBSERVATIONS = 3  # two points always correlate at +-1; three are the least that can say more


def _ranks(x: FloatArray) -> FloatArray:
    """Ranks 1..n with ties given their average rank, as Spearman's rho requires."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_x[1:] != sorted_x[:-1])))
    ends = np.concatenate((starts[1:], [x.shape[0]]))
    average = (starts + ends + 1) / 2.0  # mean of 1-based ranks starts+1 .. ends
    ranks = np.empty(x.shape[0])
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def _pearson(x: FloatArray, y: FloatArray) -> float | None:
    if x.shape[0] < MIN_OBSERVATIONS:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(np.dot(dx, dx)) * float(np.dot(dy, dy)))
    if denominator == 0.0:
        return None  # a flat series has no correlation, not a NaN
    return max(-1.0, min(1.0, float(np.dot(dx, dy)) / denominator))


def pairwise(x: FloatArray, y: FloatArray, method: str) -> float | None:
    """Correlation of two already-aligned samples."""
    if method == "spearman" and x.shape[0] >= MIN_OBSERVATIONS:
        return _pearson(_ranks(x), _ranks(y))
    return _pearson(x, y)


def _window_grid(series: Bars, first: int, slots: int) -> FloatArray:
    """The series' returns on a grid of ``slots`` open times from ``first``, NaN where it has none.

    Only the bars from one interval before ``first`` on are read, so a long history costs a
    binary search, not a pass over every bar.
    """
    start = int(np.searchsorted(series.open_time, first - series.interval_ms))
    returns, times = adjacent_log_returns(series.tail(len(series) - start))
    grid = np.full(slots, np.nan)
    slot = (times - first) // series.interval_ms
    keep = (slot >= 0) & (slot < slots)
    grid[slot[keep]] = returns[keep]
    grid[~np.isfinite(grid)] = np.nan
    return grid


def _pearson_matrix(grid: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Pearson of every pair of columns over the rows where both are present, and the counts.

    Sums over each pair's common rows come from matrix products with the presence mask, so
    the pairs cost one BLAS call instead of a loop; columns are centred first, which keeps the
    one-pass sums of squares from cancelling.
    """
    present = np.isfinite(grid).astype(np.float64)
    counts = present.T @ present
    filled = np.where(present > 0, grid, 0.0)
    means = filled.sum(axis=0) / np.maximum(present.sum(axis=0), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        centred = np.where(present > 0, filled - means, 0.0)
        sums = centred.T @ present  # [i, j]: sum of column i over rows j also has
        squares = (centred * centred).T @ present
        cross = centred.T @ centred
        cov = cross - sums * sums.T / counts
        var = squares - sums * sums / counts
        r = cov / np.sqrt(var * var.T)
    # A flat series over the common rows has no correlation; nor do fewer than 3 rows.
    flat = (var <= 1e-12 * squares) | (var.T <= 1e-12 * squares.T)
    undefined = flat | (counts < MIN_OBSERVATIONS) | ~np.isfinite(r)
    return np.where(undefined, np.nan, np.clip(r, -1.0, 1.0)), counts


def correlation(
    series: Mapping[str, Bars], *, window: int, method: str = "pearson"
) -> MetricResult:
    """Correlation matrix over the last ``window`` return slots ending at the latest bar."""
    _check(series, window, method)
    with np.errstate(all="ignore"):  # a bad price is a missing return, not a warning
        return _matrix(series, int(window), method)


def _matrix(series: Mapping[str, Bars], window: int, method: str) -> MetricResult:
    names = sorted(series)
    interval = series[names[0]].interval_ms
    lasts = [int(b.open_time[-1]) for b in series.values() if len(b)]
    if not lasts:
        return _empty_matrix(names, window, method, "no bars in any series")
    last = max(lasts)
    first = last - (window - 1) * interval
    grid = np.column_stack([_window_grid(series[name], first, window) for name in names])
    if method == "pearson":
        matrix, counts = _pearson_matrix(grid)
    else:
        matrix, counts = _spearman_matrix(grid)
    fewest = int(counts.min())
    return MetricResult(
        family="correlation",
        method=method,
        window=window,
        value={"pairs": names, "matrix": matrix},
        as_of_time=last,
        completeness=fewest / window,
        bars_used=fewest,
        extra={"observations": counts.astype(np.int64)},
    )


def _spearman_matrix(grid: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Spearman pair by pair: the ranks depend on which rows the two columns share."""
    k = grid.shape[1]
    matrix, counts = np.full((k, k), np.nan), np.zeros((k, k))
    present = np.isfinite(grid)
    for i in range(k):
        for j in range(i, k):
            both = present[:, i] & present[:, j]
            counts[i, j] = counts[j, i] = both.sum()
            rho = pairwise(grid[both, i], grid[both, j], "spearman")
            matrix[i, j] = matrix[j, i] = np.nan if rho is None else rho
    return matrix, counts


def _check(series: Mapping[str, Bars], window: int, method: str) -> None:
    if method not in CORRELATION_METHODS:
        raise ValueError(f"unknown correlation method {method[:40]!r}; known: pearson, spearman")
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < 2:
        raise ValueError(f"window must be an integer of at least 2 bars, got {window!r}")
    if not series:
        raise ValueError("correlation needs at least one series")
    intervals = {b.interval_ms for b in series.values()}
    if len(intervals) > 1:
        raise ValueError(f"series must share one interval, got {sorted(intervals)} ms")


def _empty_matrix(names: list[str], window: int, method: str, reason: str) -> MetricResult:
    return MetricResult(
        family="correlation",
        method=method,
        window=window,
        value={"pairs": names, "matrix": [[None] * len(names) for _ in names]},
        as_of_time=None,
        completeness=0.0,
        bars_used=0,
        extra={"reason": reason},
    )


def rolling_correlation(a: Bars, b: Bars, *, window: int) -> MetricResult:
    """Pearson correlation over each run of ``window`` common return slots, as a time series."""
    _check({"a": a, "b": b}, window, "pearson")
    window = int(window)
    with np.errstate(all="ignore"):
        xa, ta = adjacent_log_returns(a)
        xb, tb = adjacent_log_returns(b)
    times, ia, ib = np.intersect1d(ta, tb, assume_unique=True, return_indices=True)
    x, y = xa[ia], xb[ib]
    ok = np.isfinite(x) & np.isfinite(y)
    times, x, y = times[ok], x[ok], y[ok]
    if x.shape[0] < max(window, MIN_OBSERVATIONS):
        return MetricResult(
            "correlation",
            "rolling_pearson",
            window,
            [],
            None,
            0.0 if not x.shape[0] else x.shape[0] / window,
            int(x.shape[0]),
            {"reason": f"needs {max(window, MIN_OBSERVATIONS)} common returns, got {x.shape[0]}"},
        )
    values = _rolling_pearson(x, y, window)
    points = [
        {"time": int(t), "value": None if not math.isfinite(v) else v}
        for t, v in zip(times[window - 1 :].tolist(), values.tolist(), strict=True)
    ]
    span = int((times[-1] - times[-window]) // a.interval_ms) + 1
    return MetricResult(
        "correlation",
        "rolling_pearson",
        window,
        points,
        int(times[-1]),
        window / span,
        int(x.shape[0]),
        {"points": len(points)},
    )


def _rolling_pearson(x: FloatArray, y: FloatArray, window: int) -> FloatArray:
    """Rolling Pearson by cumulative sums of values centred on their overall means."""
    dx, dy = x - x.mean(), y - y.mean()
    n = float(window)
    sx, sy = rolling_sum(dx, window), rolling_sum(dy, window)
    sxx = rolling_sum(dx * dx, window) - sx * sx / n
    syy = rolling_sum(dy * dy, window) - sy * sy / n
    sxy = rolling_sum(dx * dy, window) - sx * sy / n
    with np.errstate(divide="ignore", invalid="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    # Rounding can leave a flat window's sums a hair above zero; such a window is undefined.
    flat = (sxx <= 1e-12 * rolling_sum(dx * dx, window)) | (
        syy <= 1e-12 * rolling_sum(dy * dy, window)
    )
    out: FloatArray = np.where(flat, np.nan, np.clip(r, -1.0, 1.0))
    return out
