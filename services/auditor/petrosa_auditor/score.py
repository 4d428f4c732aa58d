"""The health score of a dataset: four components in [0, 1], weighted into 0..100."""

from __future__ import annotations

import msgspec

# Missing data hurts every consumer and is the commonest fault, so it weighs most; bad
# values next; staleness matters to live trading; coarse/fine disagreement is rare and
# only touches datasets stored at several intervals. See docs/auditor.md.
WEIGHTS: dict[str, float] = {
    "completeness": 0.4,
    "validity": 0.3,
    "freshness": 0.2,
    "consistency": 0.1,
}


class Health(msgspec.Struct, frozen=True):
    completeness: float
    validity: float
    freshness: float
    consistency: float

    @property
    def score(self) -> float:
        """The weighted components scaled to 0..100, to two decimals."""
        parts = msgspec.structs.asdict(self)
        return round(100 * sum(WEIGHTS[name] * float(parts[name]) for name in WEIGHTS), 2)


def ratio(good: int, total: int) -> float:
    """``good / total`` clamped to [0, 1]; 1 when there was nothing to judge."""
    if total <= 0:
        return 1.0
    return min(1.0, max(0.0, good / total))
