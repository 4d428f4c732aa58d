"""On-the-fly continuity checks: aggTrade ids and depth ``pu``->``u`` chains per symbol.

With several ingestor replicas each one sees only part of the stream, so a break seen
here is a hint; the auditor's check over the stored data is authoritative.
"""

from __future__ import annotations

import msgspec

from petrosa_core.models import DepthUpdate, Record, Trade


class SequenceBreak(msgspec.Struct, frozen=True):
    """Ids missing between two consecutive records of one symbol's stream."""

    dataset: str
    check: str
    symbol: str
    missing_from: int
    missing_to: int
    observed_at: int


class SequenceTracker:
    """Remembers the last id per symbol and reports the ids a new record skips over."""

    def __init__(self) -> None:
        self._last_agg: dict[str, int] = {}
        self._last_depth: dict[str, int] = {}

    def observe(self, record: Record) -> SequenceBreak | None:
        if isinstance(record, Trade) and record.trade_type == "agg":
            return self._agg(record)
        if isinstance(record, DepthUpdate):
            return self._depth(record)
        return None

    def _agg(self, trade: Trade) -> SequenceBreak | None:
        last = self._last_agg.get(trade.symbol)
        if last is not None and trade.trade_id <= last:
            return None  # a redelivery or a replay: nothing new
        self._last_agg[trade.symbol] = trade.trade_id
        if last is None or trade.trade_id == last + 1:
            return None
        return SequenceBreak(
            str(trade.dataset),
            "agg_trade_ids",
            trade.symbol,
            last + 1,
            trade.trade_id - 1,
            trade.trade_time,
        )

    def _depth(self, update: DepthUpdate) -> SequenceBreak | None:
        last = self._last_depth.get(update.symbol)
        if last is not None and update.final_update_id <= last:
            return None
        self._last_depth[update.symbol] = update.final_update_id
        if last is None or update.prev_final_update_id == last:
            return None
        # Update ids are not dense: the break is the span between the two known ends.
        return SequenceBreak(
            str(update.dataset),
            "depth_continuity",
            update.symbol,
            last,
            update.prev_final_update_id,
            update.event_time,
        )
