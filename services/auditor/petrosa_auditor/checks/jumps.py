"""Price jumps: close-to-close log returns far outside the page's robust spread.

The spread is the median absolute deviation (MAD) of the returns, scaled by 1.4826 so it
estimates a standard deviation; it ignores the outliers it is meant to find. It is taken
per window of tens of thousands of candles, so it follows the market's changing volatility. A jump
is suspicious, not invalid: real markets jump too.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from petrosa_auditor.findings import Runs

MAD_TO_SIGMA = 1.4826
# The mean absolute deviation of a normal sample, times this, also estimates sigma; it
# stands in when most returns are exactly zero (illiquid markets) and the MAD is 0.
MEAN_DEV_TO_SIGMA = 1.2533
# Fewer returns than this give no trustworthy spread; the last good one is reused.
MIN_RETURNS = 30
# Candles per spread estimate: about five weeks of one-minute candles, a few hundred kB.
WINDOW = 50_000
SPREAD_SAMPLE = 10_000


def robust_spread(returns: pl.Series) -> tuple[float, float] | None:
    """The median and a robust sigma of ``returns``; None when there are too few or all equal.

    Both come from an even sample of at most about ``SPREAD_SAMPLE`` returns: sorting is
    the costliest step, and ten thousand returns pin the spread down to about one percent.
    """
    if returns.len() < MIN_RETURNS:
        return None
    sample = returns.gather_every(max(1, returns.len() // SPREAD_SAMPLE))
    median = sample.median()
    if not isinstance(median, float):
        return None
    deviations = (sample - median).abs()
    mad = deviations.median()
    if isinstance(mad, float) and mad > 0:
        return median, MAD_TO_SIGMA * mad
    mean = deviations.mean()
    if isinstance(mean, float) and mean > 0:
        return median, MEAN_DEV_TO_SIGMA * mean
    return None


class PriceJumps:
    """Flags candles whose close moved more than ``k`` robust sigmas from the last close.

    Pages are gathered into windows of about ``window`` candles before the spread is taken:
    fewer, larger polars calls, and a spread over weeks of one-minute candles.
    """

    def __init__(
        self, k: float, previous_close: float | None, runs: Runs, window: int = WINDOW
    ) -> None:
        self.k = k
        self.runs = runs
        self.window = window
        self._previous = previous_close
        self._spread: tuple[float, float] | None = None
        self._times: list[int] = []
        self._closes: list[float] = []
        self._position = 0

    def feed(self, times: Sequence[int], closes: Sequence[float], position: int) -> None:
        """Take one page; ``position`` numbers its first candle like the other checks."""
        if not self._closes:
            self._position = position
        self._times.extend(times)
        self._closes.extend(closes)
        if len(self._closes) >= self.window:
            self.flush()

    def flush(self) -> None:
        """Scan what has been gathered; call once more after the last page."""
        times, closes, position = self._times, self._closes, self._position
        if not closes:
            return
        self._times, self._closes = [], []
        head = [] if self._previous is None else [self._previous]
        prices = pl.Series("close", [*head, *closes], dtype=pl.Float64)
        self._previous = closes[-1]
        # Non-positive prices are the validity check's business; they make no return here.
        returns = prices.log().diff().fill_nan(None)
        offset = len(head)  # returns[j] belongs to candle j - offset of this window
        finite = returns.is_finite().fill_null(False)
        usable = returns.filter(finite)
        self._spread = robust_spread(usable) or self._spread
        if self._spread is None:
            return
        centre, sigma = self._spread
        limit = self.k * sigma
        outside = (finite & ((returns - centre).abs() > limit)).fill_null(False)
        for j in outside.arg_true().to_list():
            i = j - offset
            self.runs.flag(
                position + i,
                times[i],
                ["price_jump"],
                log_return=returns[j],
                threshold=limit,
                close=closes[i],
            )
