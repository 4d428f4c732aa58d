"""What a batch does to the stored records, worked out in Python before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from petrosa_core.market._mongo_layout import is_final
from petrosa_core.market.protocol import WriteResult
from petrosa_core.models import Record


@dataclass
class BatchPlan:
    """The newest accepted version of each changed key, and what each record counted as."""

    writes: dict[str, Record] = field(default_factory=dict)
    # Per key: how many of its records were inserted, updated and unchanged.
    tallies: dict[str, list[int]] = field(default_factory=dict)

    def result(self, lost: set[str]) -> WriteResult:
        """Totals, counting keys that a concurrent writer finalised first as unchanged."""
        inserted = updated = unchanged = 0
        for key, (ins, upd, same) in self.tallies.items():
            if key in lost:
                unchanged += ins + upd + same
            else:
                inserted, updated, unchanged = inserted + ins, updated + upd, unchanged + same
        return WriteResult(inserted, updated, unchanged)


def plan_batch(
    ids: Sequence[str], records: Sequence[Record], stored: dict[str, Record]
) -> BatchPlan:
    """Apply ``records`` in order over ``stored``: replays and final records change nothing."""
    plan = BatchPlan()
    current = dict(stored)
    for key, record in zip(ids, records, strict=True):
        tally = plan.tallies.setdefault(key, [0, 0, 0])
        before = current.get(key)
        if before is None:
            tally[0] += 1
        elif before == record or is_final(before):
            tally[2] += 1
            continue
        else:
            tally[1] += 1
        current[key] = plan.writes[key] = record
    return plan
