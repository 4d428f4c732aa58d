"""The one health scale: what a dataset's score means, for the auditor that computes it
and the API that reports it.

A score is 0..100, the weighted sum of four components in [0, 1]; bands cut that scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

SCORE_MAX = 100.0
# Missing data hurts every consumer and is the commonest fault, so it weighs most; bad
# values next; staleness matters to live trading; coarse/fine disagreement is rare and
# only touches datasets stored at several intervals. See docs/auditor.md.
WEIGHTS: dict[str, float] = {
    "completeness": 0.4,
    "validity": 0.3,
    "freshness": 0.2,
    "consistency": 0.1,
}
# Healthy: at most a tenth of the weight lost, e.g. a stale but otherwise perfect dataset
# (freshness 0.5) still scores 90. Below 70 a consumer should not trust the data unchecked.
HEALTHY_FROM = 90.0
DEGRADED_FROM = 70.0

Band = Literal["healthy", "degraded", "unhealthy"]


def weighted_score(components: Mapping[str, float]) -> float:
    """The components (each in [0, 1]) weighted into 0..100, to two decimals."""
    return round(SCORE_MAX * sum(w * float(components[name]) for name, w in WEIGHTS.items()), 2)


def band(score: float) -> Band:
    """``healthy`` from 90, ``degraded`` from 70, ``unhealthy`` below."""
    if score >= HEALTHY_FROM:
        return "healthy"
    return "degraded" if score >= DEGRADED_FROM else "unhealthy"


__all__ = [
    "DEGRADED_FROM",
    "HEALTHY_FROM",
    "SCORE_MAX",
    "WEIGHTS",
    "Band",
    "band",
    "weighted_score",
]
