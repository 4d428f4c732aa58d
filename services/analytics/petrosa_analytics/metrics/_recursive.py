"""First-order recursions (EMA, Wilder smoothing) without a Python loop over bars.

``y[t] = d * y[t-1] + x[t]`` is solved in blocks: inside a block of length L,
``y[j] = d**j * cumsum(x[i] * d**-i)``, with L chosen so ``d**-L`` stays below 1e150
(no overflow; the rounding error stays eps * L * max|x|, as for a plain running sum). The
state at each block's end is carried into the next block by the same recursion on the block
ends with decay ``d**L``; once that decay is below machine epsilon only the previous block
matters, which ends the recursion.
"""

from __future__ import annotations

import math

import numpy as np

from petrosa_analytics.metrics._bars import FloatArray

_MAX_GROWTH = 1e150
_EPSILON = float(np.finfo(np.float64).eps)


def decay_filter(x: FloatArray, decay: float) -> FloatArray:
    """``y[t] = decay * y[t-1] + x[t]`` with ``y[-1] = 0``, for 0 <= decay < 1."""
    n = x.shape[0]
    if n == 0 or decay == 0.0:
        return np.array(x, dtype=np.float64)
    if decay < _EPSILON:
        # decay**2 is below rounding: only the previous term can contribute.
        y = np.array(x, dtype=np.float64)
        y[1:] += decay * x[:-1]
        return y
    block = max(1, min(n, int(math.log(_MAX_GROWTH) / -math.log(decay))))
    blocks = -(-n // block)
    padded = np.zeros(blocks * block)
    padded[:n] = x
    grid = padded.reshape(blocks, block)
    # d**j as exp(j ln d): one exp instead of a pow per element, within a few ulps of it.
    down = np.exp(np.arange(block) * math.log(decay))
    local = np.cumsum(grid / down, axis=1) * down
    if blocks > 1:
        ends = decay_filter(np.ascontiguousarray(local[:, -1]), decay**block)
        local[1:] += ends[:-1, None] * (down * decay)
    out: FloatArray = local.reshape(-1)[:n]
    return out


def ema(values: FloatArray, span: int) -> FloatArray:
    """EMA with alpha = 2 / (span + 1), seeded with the first value (pandas ``adjust=False``)."""
    alpha = 2.0 / (span + 1.0)
    x = alpha * values
    if x.shape[0]:
        x[0] = values[0]
    return decay_filter(x, 1.0 - alpha)


def wilder(values: FloatArray, period: int) -> FloatArray:
    """Wilder's smoothing (alpha = 1/period) seeded with the mean of the first ``period`` values.

    The output starts at index ``period - 1``; shorter input gives an empty array.
    """
    if values.shape[0] < period:
        return np.empty(0)
    alpha = 1.0 / period
    x = alpha * values[period - 1 :]
    x[0] = float(np.mean(values[:period]))
    return decay_filter(x, 1.0 - alpha)
