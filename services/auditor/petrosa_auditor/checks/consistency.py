"""Consistency: a coarse candle must equal the aggregate of the finer candles inside it.

open = first open, close = last close, high = max, low = min, volume = sum. Prices come
from the same decimal strings on both sides, so they must match to float precision;
summed volumes may differ in the last bits and are compared with a relative tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

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

    def __init__(self, first: Candle) -> None:
        self.open, self.close = first.open, first.close
        self.high, self.low = first.high, first.low
        self.volume = first.volume
        self.count = 1

    def add(self, c: Candle) -> None:
        # Fed in time order, so the latest candle's close is the bucket's close.
        self.close = c.close
        self.high = max(self.high, c.high)
        self.low = min(self.low, c.low)
        self.volume += c.volume
        self.count += 1


class Aggregator:
    """Groups closed finer candles by the coarse candle that contains them."""

    def __init__(self, coarse: str, fine: str) -> None:
        self.coarse = coarse
        self.expected = FIXED_INTERVAL_MS[coarse] // FIXED_INTERVAL_MS[fine]
        self.buckets: dict[int, Bucket] = {}

    def feed(self, fine: Sequence[Candle]) -> None:
        buckets, coarse = self.buckets, self.coarse
        for c in fine:
            if not c.is_closed:
                continue
            key = align(c.open_time, coarse)
            bucket = buckets.get(key)
            if bucket is None:
                buckets[key] = Bucket(c)
            else:
                bucket.add(c)

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
