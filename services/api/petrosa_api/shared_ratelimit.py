"""Rate limits every API replica shares, kept in Redis by the ``limits`` library.

Each replica limiting on its own lets a client spend the limit once per replica; with
``API_RATE_LIMIT_STORAGE=redis://...`` the replicas count every caller's requests in one
place. The limit is two moving windows: ``burst`` requests in the time the per-minute
rate takes to earn them, and ``per_minute`` in any minute, the token bucket's shape.

When Redis cannot answer, the replica falls back to its own in-process limiter and tries
Redis again after ``RETRY_AFTER_FAILURE`` seconds: reads stay available through a Redis
outage, and a client is still held to the limit on each replica (fail open to the
per-replica limit, never to no limit at all).
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter

from petrosa_api.ratelimit import RateLimiter

log = logging.getLogger("petrosa.api.ratelimit")

STORAGE_SCHEMES = ("memory", "redis", "rediss")  # memory://: each replica on its own
# A request must not wait on a dead Redis: loopback or a pod network answers in under a
# millisecond, so a quarter second means it is gone.
REDIS_TIMEOUT = 0.25
# How long a replica limits on its own after Redis failed before asking it again: one
# slow request every few seconds at most while Redis is away.
RETRY_AFTER_FAILURE = 5.0
KEY_PREFIX = "petrosa_api_ratelimit"

STORAGE_FAILURES = Counter(
    "data_manager_rate_limit_storage_failures_total",
    "Rate-limit decisions made by the replica alone because the shared storage failed",
)


def open_storage(url: str) -> Storage:
    """The ``limits`` storage on ``redis[s]://host:port/db``; it connects on first use."""
    return RedisStorage(
        f"async+{url}",
        wrap_exceptions=True,
        implementation="redispy",
        key_prefix=KEY_PREFIX,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
    )


def window_items(per_minute: int, burst: int) -> tuple[RateLimitItem, RateLimitItem]:
    """The burst window (``burst`` per the seconds the rate takes to earn it) and the minute."""
    seconds = max(1, math.ceil(burst * 60 / per_minute))
    return RateLimitItemPerSecond(burst, seconds), RateLimitItemPerMinute(per_minute)


class SharedRateLimiter:
    """``per_minute`` requests a minute, bursts up to ``burst``, counted in ``storage``.

    ``fallback`` limits alone while the storage fails (see the module docstring).
    """

    def __init__(
        self, storage: Storage, per_minute: int, burst: int, fallback: RateLimiter
    ) -> None:
        self.per_minute = per_minute
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._items = window_items(per_minute, burst) if per_minute else ()
        self._fallback = fallback
        self._shared_again_at = 0.0

    async def acquire(self, caller: str) -> float:
        """Count one request of ``caller``: 0 when allowed, else seconds until one is."""
        if not self._items:
            return 0.0
        if time.monotonic() < self._shared_again_at:
            return self._fallback.acquire(caller)
        try:
            return await self._shared_acquire(caller)
        except StorageError as exc:
            return self._storage_failed(caller, exc)

    async def _shared_acquire(self, caller: str) -> float:
        for item in self._items:
            if not await self._limiter.hit(item, caller):
                stats = await self._limiter.get_window_stats(item, caller)
                return max(stats.reset_time - time.time(), 0.001)
        return 0.0

    def _storage_failed(self, caller: str, exc: StorageError) -> float:
        STORAGE_FAILURES.inc()
        log.warning(
            "rate-limit storage failed; this replica limits alone for %.0f s",
            RETRY_AFTER_FAILURE,
            extra={"error": f"{type(exc.storage_error).__name__}: {exc.storage_error}"},
        )
        self._shared_again_at = time.monotonic() + RETRY_AFTER_FAILURE
        return self._fallback.acquire(caller)
