"""Freshness: how long ago the newest record happened, against what its stream implies."""

from __future__ import annotations

import msgspec

from petrosa_auditor.findings import ERROR, WARNING
from petrosa_core.intervals import MINUTE_MS
from petrosa_core.metadata import FindingIn
from petrosa_core.models import DatasetKind

# Longest normal silence of each stream: depth, mark prices and tickers push every second
# or faster; an illiquid symbol can go minutes without a trade. Candles and funding rates
# are judged by their interval or cadence instead.
STREAM_SILENCE_MS: dict[DatasetKind, int] = {
    DatasetKind.TRADES: 5 * MINUTE_MS,
    DatasetKind.DEPTH: MINUTE_MS,
    DatasetKind.MARK_PRICES: MINUTE_MS,
    DatasetKind.TICKERS: MINUTE_MS,
    DatasetKind.BOOK_TICKERS: MINUTE_MS,
}
# Stale beyond this many allowances is an outage, not a hiccup.
ERROR_FACTOR = 10


class Freshness(msgspec.Struct, frozen=True):
    """The newest record's age and the score it earns (1 when fresh, falling as it ages)."""

    age_ms: int | None
    allowed_ms: int
    score: float
    finding: FindingIn | None


def freshness(last_time: int | None, now: int, allowed_ms: int) -> Freshness:
    """Judge ``last_time`` (when the newest record became complete) at ``now``.

    The finding's range starts at ``last_time`` and stays open, so one stale spell is one
    finding however many audits see it.
    """
    if last_time is None:
        return Freshness(None, allowed_ms, 0.0, None)
    age = max(0, now - last_time)
    if age <= allowed_ms:
        return Freshness(age, allowed_ms, 1.0, None)
    severity = ERROR if age > ERROR_FACTOR * allowed_ms else WARNING
    details = {"age_seconds": age / 1000, "allowed_seconds": allowed_ms / 1000}
    return Freshness(
        age, allowed_ms, allowed_ms / age, FindingIn(severity, last_time, None, details)
    )
