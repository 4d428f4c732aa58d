"""Legacy copies of one natural key stored under several ids, and their removal.

Our stores key records by their natural key and never add a copy; only data written by
the original service (MongoDB documents with random ``ObjectId``s) can hold copies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal, Protocol

import msgspec

from petrosa_core.models import DatasetId

DuplicateStrategy = Literal["keep_newest", "keep_oldest"]


class DuplicateGroup(msgspec.Struct, frozen=True):
    """Every stored copy of one natural key, oldest first by the scanner's ranking.

    ``ordinal`` is the key's place among the distinct keys of the scan.
    """

    key: tuple[Any, ...]
    time: int
    ordinal: int
    ids: list[Any]

    @property
    def extra(self) -> int:
        return len(self.ids) - 1


class Removal(msgspec.Struct, frozen=True):
    """Copies of one natural key removed, keeping the copy the strategy chose."""

    key: list[Any]
    time: int
    kept: str
    removed: list[str]


class DuplicateScanner(Protocol):
    """Finds copies of one natural key stored under different ids, and removes them."""

    def scan(
        self, dataset: DatasetId, start: int | None, end: int | None
    ) -> AsyncIterator[DuplicateGroup]: ...

    async def remove(
        self, dataset: DatasetId, groups: Sequence[DuplicateGroup], strategy: DuplicateStrategy
    ) -> list[Removal]: ...

    async def close(self) -> None: ...
