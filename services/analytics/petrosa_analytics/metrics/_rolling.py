"""Rolling sums, means and variances by cumulative sums, over arrays that may hold NaN gaps."""

from __future__ import annotations

import numpy as np

from petrosa_analytics.metrics._bars import FloatArray


def rolling_sum(x: FloatArray, window: int) -> FloatArray:
    """Sum of each run of ``window`` consecutive values; output index i ends at input i+window-1."""
    c = np.concatenate(([0.0], np.cumsum(x)))
    out: FloatArray = c[window:] - c[:-window]
    return out


def rolling_var(x: FloatArray, valid: np.ndarray, window: int) -> tuple[FloatArray, FloatArray]:
    """Sample variance (ddof 1) of the valid values in each run of ``window``, and their count.

    Values are centred on their overall mean first, which keeps the running sums of squares
    from cancelling catastrophically.
    """
    count = rolling_sum(valid.astype(np.float64), window)
    if not valid.any():
        return np.full(count.shape, np.nan), count
    centred = np.where(valid, x - x[valid].mean(), 0.0)
    s1 = rolling_sum(centred, window)
    s2 = rolling_sum(centred * centred, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (s2 - s1 * s1 / count) / (count - 1.0)
    var = np.where(count >= 2, np.maximum(var, 0.0), np.nan)
    return var, count
