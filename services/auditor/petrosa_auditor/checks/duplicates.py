"""Duplicates: several stored records for one natural key.

Our stores key records by their natural key, so only legacy data (MongoDB documents
with random ``ObjectId``s) can hold copies. In a time-ordered scan the copies of a key
sit next to each other; each key is numbered by its place among the distinct keys so
that duplicated keys which follow each other merge into one finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from petrosa_auditor.findings import Runs
from petrosa_core.market import DuplicateGroup
from petrosa_core.models import KIND_SPECS, DatasetKind

if TYPE_CHECKING:
    import pyarrow as pa


def natural_keys(kind: DatasetKind, table: pa.Table) -> list[Any]:
    """Each row's key beside symbol (and interval): trade ids of the two types overlap."""
    key = ints(table, KIND_SPECS[kind].key_field)
    if kind is DatasetKind.TRADES:
        return list(zip(table.column("trade_type").to_pylist(), key, strict=True))
    return key


def ints(table: pa.Table, name: str) -> list[int]:
    """An integer or time column as Python ints (times as epoch milliseconds)."""
    import pyarrow as pa

    return table.column(name).cast(pa.int64()).to_numpy().tolist()  # type: ignore[no-any-return]


class Repeats:
    """Flags each record whose natural key equals the one before it in the scan."""

    def __init__(self, runs: Runs) -> None:
        self.runs = runs
        self.distinct = 0
        self._last: tuple[Any, ...] | None = None

    def feed(self, keys: Sequence[Any], times: Sequence[int]) -> None:
        """The next records' natural keys and times, in the scan's order."""
        for key, time in zip(keys, times, strict=True):
            if key == self._last:
                self.runs.flag(self.distinct, time, ["repeated_key"])
            else:
                self.distinct += 1
                self._last = key


def flag_groups(groups: Sequence[DuplicateGroup], runs: Runs) -> int:
    """Report each group as a flagged key; returns the number of surplus copies."""
    extra = 0
    for group in groups:
        runs.flag(group.ordinal, group.time, ["duplicate_key"], copies=len(group.ids))
        extra += group.extra
    return extra
