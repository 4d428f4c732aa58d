"""Consistency: a coarse candle must equal the aggregate of the finer candles inside it.

open = first open, close = last close, high = max, low = min, volume = sum. Prices come
from the same decimal strings on both sides, so they must match to float precision;
summed volumes may differ in the last bits and are compared with a relative tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from petrosa_auditor.columns import CandleColumns
from petrosa_auditor.findings import ERROR
from petrosa_core.intervals import FIXED_INTERVAL_MS, align
from petrosa_core.metadata import FindingIn
from petrosa_core.models import Candle

PRICE_TOLERANCE = 1e-9


def finer_interval(coarse: str, available: Iterable[str]) -> str | None:
    """The finest stored interval whose candles tile ``coarse`` exactly, if any."""
    coarse_ms = FIXED_INTERVAL_MS.get(coarse)
    if coarse_ms is None:
        return None  # months vary in length: no fixed number of finer candles fills one
    fits = [
        (FIXED_INTERVAL_MS[i], i)
        for i in available
        if i in FIXED_INTERVAL_MS
        and FIXED_INTERVAL_MS[i] < coarse_ms
        and coarse_ms % FIXED_INTERVAL_MS[i] == 0
    ]
    return min(fits)[1] if fits else None


class Bucket:
    """The running aggregate of the finer candles inside one coarse candle."""

    __slots__ = ("close", "count", "high", "low", "open", "volume")

    def __init__(
        self, open_: float, close: float, high: float, low: float, volume: float, count: int
    ) -> None:
        self.open, self.close, self.high, self.low = open_, close, high, low
        self.volume, self.count = volume, count

    def merge(self, close: float, high: float, low: float, volume: float, count: int) -> None:
        """Add a later run of finer candles of the same coarse candle."""
        self.close = close
        self.high = max(self.high, high)
        self.low = min(self.low, low)
        self.volume += volume
        self.count += count


class Aggregator:
    """Groups closed finer candles by the coarse candle that contains them."""

    def __init__(self, coarse: str, fine: str) -> None:
        self.coarse = coarse
        self.expected = FIXED_INTERVAL_MS[coarse] // FIXED_INTERVAL_MS[fine]
        self.buckets: dict[int, Bucket] = {}

    def feed(self, fine: CandleColumns) -> None:
        """Take the next finer candles: each coarse candle's closed ones reduced by numpy.

        A coarse candle cut by a table boundary is merged with its earlier part.
        """
        closed = fine.is_closed
        times = fine.open_time[closed]
        if not len(times):
            return
        step = FIXED_INTERVAL_MS[self.coarse]
        offset = align(10 * step, self.coarse) % step  # weeks open on Mondays
        keys = (times - offset) // step * step + offset
        starts = np.concatenate(([0], np.flatnonzero(np.diff(keys)) + 1))
        ends = np.append(starts[1:], len(times))
        parts = zip(
            keys[starts].tolist(),
            fine.open[closed][starts].tolist(),
            fine.close[closed][ends - 1].tolist(),
            np.maximum.reduceat(fine.high[closed], starts).tolist(),
            np.minimum.reduceat(fine.low[closed], starts).tolist(),
            np.add.reduceat(fine.volume[closed], starts).tolist(),
            (ends - starts).tolist(),
            strict=True,
        )
        for key, first, last, high, low, volume, count in parts:
            bucket = self.buckets.get(key)
            if bucket is None:
                self.buckets[key] = Bucket(first, last, high, low, volume, count)
            else:
                bucket.merge(last, high, low, volume, count)

    def complete(self, open_time: int) -> Bucket | None:
        """The aggregate for the coarse candle at ``open_time``, if every finer one is there."""
        bucket = self.buckets.get(open_time)
        return bucket if bucket is not None and bucket.count == self.expected else None


def mismatches(
    coarse: Candle, bucket: Bucket, volume_tolerance: float
) -> dict[str, dict[str, float]]:
    """Fields on which ``coarse`` disagrees with the aggregate, with both values."""
    pairs = {
        "open": (coarse.open, bucket.open, PRICE_TOLERANCE),
        "high": (coarse.high, bucket.high, PRICE_TOLERANCE),
        "low": (coarse.low, bucket.low, PRICE_TOLERANCE),
        "close": (coarse.close, bucket.close, PRICE_TOLERANCE),
        "volume": (coarse.volume, bucket.volume, volume_tolerance),
    }
    return {
        name: {"stored": stored, "aggregated": aggregated}
        for name, (stored, aggregated, tolerance) in pairs.items()
        if not math.isclose(stored, aggregated, rel_tol=tolerance, abs_tol=1e-12)
    }


def consistency_finding(
    coarse: Candle, fields: dict[str, dict[str, float]], source: str
) -> FindingIn:
    return FindingIn(
        ERROR, coarse.open_time, coarse.open_time, {"source": source, "fields": fields}
    )
