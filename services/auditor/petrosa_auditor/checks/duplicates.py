"""Duplicates: several stored records for one natural key.

Our stores key records by their natural key, so only legacy data (MongoDB documents
with random ``ObjectId``s) can hold copies. In a time-ordered scan the copies of a key
sit next to each other; each key is numbered by its place among the distinct keys so
that duplicated keys which follow each other merge into one finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from petrosa_auditor.findings import Runs
from petrosa_core.market import DuplicateGroup
from petrosa_core.models import Record, Trade


def natural_key(record: Record) -> tuple[Any, ...]:
    """The key beside symbol (and interval): trade ids of the two trade types overlap."""
    if isinstance(record, Trade):
        return (record.trade_type, record.trade_id)
    return (record.key,)


class Repeats:
    """Flags each record whose natural key equals the one before it in the scan."""

    def __init__(self, runs: Runs) -> None:
        self.runs = runs
        self.distinct = 0
        self._last: tuple[Any, ...] | None = None

    def feed(self, records: Sequence[Record]) -> None:
        for record in records:
            key = natural_key(record)
            if key == self._last:
                self.runs.flag(self.distinct, record.time, ["repeated_key"])
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
