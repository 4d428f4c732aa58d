"""The health of a dataset: four components in [0, 1], scored on the core's 0..100 scale."""

from __future__ import annotations

import msgspec

from petrosa_core.health import WEIGHTS, weighted_score

__all__ = ["WEIGHTS", "Health", "ratio"]


class Health(msgspec.Struct, frozen=True):
    completeness: float
    validity: float
    freshness: float
    consistency: float

    @property
    def score(self) -> float:
        """The weighted components scaled to 0..100, to two decimals."""
        return weighted_score(msgspec.structs.asdict(self))


def ratio(good: int, total: int) -> float:
    """``good / total`` clamped to [0, 1]; 1 when there was nothing to judge."""
    if total <= 0:
        return 1.0
    return min(1.0, max(0.0, good / total))
