"""Compiled validators by schema version, kept ``SCHEMA_CACHE_TTL`` seconds, with counters.

A version's document never changes, so an entry can only be old, never wrong; the TTL
bounds memory held for versions nobody asks about, and the entry cap bounds it outright.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

V = TypeVar("V")


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    compilations: int = 0
    evictions: int = 0


class ExpiringCache(Generic[V]):
    """A map of at most ``max_entries``, oldest out first, whose entries expire ``ttl``
    seconds after they land."""

    def __init__(
        self, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self.stats = CacheStats()

    def get(self, key: Hashable) -> V | None:
        """The live entry of ``key`` (a hit), or None (a miss; an expired entry is evicted).

        The hot path of every validation: a hit does not reorder the entries, so the cap
        evicts the oldest compiled, not the least used (which merely compiles it again).
        """
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            self.stats.hits += 1
            return entry[1]
        if entry is not None:
            del self._entries[key]
            self.stats.evictions += 1
        self.stats.misses += 1
        return None

    def peek(self, key: Hashable) -> V | None:
        """The live entry of ``key`` without counting a hit or a miss (a second lookup)."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > self._clock() else None

    def put(self, key: Hashable, value: V) -> None:
        if self.ttl <= 0:
            return
        self._entries[key] = (self._clock() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
            self.stats.evictions += 1

    def drop(self, key: Hashable) -> None:
        if self._entries.pop(key, None) is not None:
            self.stats.evictions += 1

    def clear(self) -> int:
        """Forget every entry (counted as evictions); returns how many there were."""
        count = len(self._entries)
        self._entries.clear()
        self.stats.evictions += count
        return count

    def describe(self) -> dict[str, Any]:
        requests = self.stats.hits + self.stats.misses
        return {
            **asdict(self.stats),
            "entries": len(self._entries),
            "max_entries": self._max_entries,
            "ttl_seconds": self.ttl,
            "hit_ratio": round(self.stats.hits / requests, 4) if requests else None,
        }
