"""Funding rates derived from mark price updates: the rate in force at each funding time.

Every ``markPriceUpdate`` carries the current funding-rate estimate ``r`` and the next
funding time ``T``. The estimate last seen before ``T`` is the one applied at ``T``, so
a funding record for ``T`` is emitted when the stream first moves past ``T``.
"""

from __future__ import annotations

from petrosa_core.models import FundingRate, MarkPrice


class FundingTracker:
    """Holds each symbol's latest estimate and settles it once its funding time passes."""

    def __init__(self) -> None:
        self._pending: dict[str, MarkPrice] = {}

    def observe(self, update: MarkPrice) -> FundingRate | None:
        held = self._pending.get(update.symbol)
        if held is not None and update.event_time < held.event_time:
            return None  # older than what we hold: a redelivery
        self._pending[update.symbol] = update
        if held is None or update.next_funding_time == held.next_funding_time:
            return None
        if update.event_time < held.next_funding_time:
            return None  # the schedule moved without settling; keep the newest estimate
        return FundingRate(held.symbol, held.next_funding_time, held.funding_rate, held.mark_price)
