"""Token-bucket rate limiting per caller (API key or client address), in process."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# Callers tracked at once; the least recently seen is forgotten first (and starts full).
MAX_TRACKED_CALLERS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``per_minute`` requests a minute with bursts up to ``burst``; ``per_minute=0`` is off."""

    def __init__(
        self,
        per_minute: int,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = MAX_TRACKED_CALLERS,
    ) -> None:
        self.per_minute = per_minute
        self.burst = float(burst)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._max_callers = max_callers
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, caller: str) -> float:
        """Take one token for ``caller``: 0 when allowed, else seconds until one is free."""
        if self.per_minute == 0:
            return 0.0
        bucket = self._refilled(caller)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def wait(self, caller: str) -> float:
        """Seconds until ``caller`` has a token, without taking it: 0 when one is free now."""
        if self.per_minute == 0 or caller not in self._buckets:
            return 0.0  # an unseen caller starts full, and is not tracked for being asked about
        bucket = self._refilled(caller)
        return max(0.0, (1.0 - bucket.tokens) / self._rate)

    def _refilled(self, caller: str) -> _Bucket:
        now = self._clock()
        bucket = self._bucket(caller, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        return bucket

    def _bucket(self, caller: str, now: float) -> _Bucket:
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = self._buckets[caller] = _Bucket(self.burst, now)
            if len(self._buckets) > self._max_callers:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(caller)
        return bucket


def retry_after_header(wait: float) -> str:
    """Whole seconds for ``Retry-After``; at least 1 so a client never retries at once."""
    return str(max(1, math.ceil(wait)))
