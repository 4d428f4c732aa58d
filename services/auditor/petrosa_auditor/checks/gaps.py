"""Gaps: candles against the interval grid, aggTrade ids, depth ``pu``->``u``, funding cadence.

Each scanner is fed the dataset's records page by page in time order and starts from
the last record before the audited range, so a gap crossing the range's start is
reported whole, with the same range by every audit.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from petrosa_auditor.findings import ERROR, Runs
from petrosa_core.intervals import (
    FIXED_INTERVAL_MS,
    align,
    count_open_times,
    is_aligned,
    next_open,
)
from petrosa_core.metadata import FindingIn
from petrosa_core.models import DepthUpdate, Trade

# Binance stamps funding events a few milliseconds late; a spacing up to half a period
# longer than the cadence is jitter or a schedule shift, not a missing event.
CADENCE_SLACK = 1.5
SECOND_MS = 1000


class Gap(msgspec.Struct, frozen=True):
    """Missing data over ``[first, last]``; a backfill of ``[fill_start, fill_end)`` repairs it.

    ``missing`` counts the absent records, or is None where the count cannot be known.
    """

    first: int
    last: int
    missing: int | None
    fill_start: int
    fill_end: int
    details: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """How much time the gap spans, the measure ``MIN_AUTO_BACKFILL_GAP`` compares."""
        return (self.fill_end - self.fill_start) / SECOND_MS

    def finding(self) -> FindingIn:
        return FindingIn(ERROR, self.first, self.last, {"missing": self.missing, **self.details})


class GapList:
    """Gaps in order, keeping the first ``cap`` and counting every one."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.items: list[Gap] = []
        self.total = 0
        self.missing = 0

    def add(self, gap: Gap) -> None:
        self.total += 1
        self.missing += gap.missing or 0
        if len(self.items) < self.cap:
            self.items.append(gap)


class GridGaps:
    """Missing candle open times up to ``last_expected``, merged into ranges.

    Repeated open times go to ``repeats``; off-grid ones are the validity check's.
    """

    def __init__(
        self,
        interval: str,
        previous: int | None,
        expected_from: int | None,
        last_expected: int,
        gaps: GapList,
        repeats: Runs,
    ) -> None:
        self.interval = interval
        self.step = FIXED_INTERVAL_MS.get(interval)
        self.limit = last_expected
        self.gaps, self.repeats = gaps, repeats
        # A dataset that begins inside the range (no previous candle) is due from its first.
        self.first = expected_from if previous is not None else None
        self.skipped = 0
        self._last = previous
        self._seen = 0

    @property
    def present(self) -> int:
        """Distinct on-grid candles seen up to ``last_expected``."""
        return self._seen - self.skipped

    def feed(self, open_times: Sequence[int] | npt.NDArray[np.int64]) -> None:
        """Scan the next open times, ascending; those after ``last_expected`` are ignored.

        On a fixed grid, numpy finds the times that do not follow their predecessor by one
        step; only those (and the one after a time that did not count) are judged in Python.
        """
        times = np.asarray(open_times, dtype=np.int64)
        n = int(np.searchsorted(times, self.limit, side="right"))
        if self.step is None:
            self._feed_each(times[:n].tolist())
        elif n:
            self._feed_grid(times[:n], self.step)
        self._seen += n

    def _feed_each(self, times: list[int]) -> None:
        last = self._last
        for i, t in enumerate(times):
            if self._counts(last, t, self._seen + i):
                last = t
        self._last = last

    def _feed_grid(self, times: npt.NDArray[np.int64], step: int) -> None:
        before = np.empty_like(times)
        before[1:] = times[:-1]
        # No previous time: the first is judged on its own.
        before[0] = times[0] if self._last is None else self._last
        pending = deque(np.flatnonzero(times - before != step).tolist())
        last, pos, judged_next = self._last, 0, False
        while pos < len(times):
            if not judged_next:
                # Every time up to the next pending one follows a counted one by a step.
                upto = pending[0] if pending else len(times)
                if upto > pos:
                    last, pos = int(times[upto - 1]), upto
                    continue
            if pending and pending[0] == pos:
                pending.popleft()
            t = int(times[pos])
            counted = (last is not None and t - last == step) or self._counts(
                last, t, self._seen + pos
            )
            if counted:
                last = t
            # After a time that did not count, the next one no longer follows ``last``.
            judged_next = not counted
            pos += 1
        self._last = last

    def _counts(self, last: int | None, t: int, position: int) -> bool:
        """Judge an open time that does not follow ``last`` by one step; True if it counts."""
        if not is_aligned(t, self.interval) or (last is not None and t < last):
            self.skipped += 1
            return False
        if last is None:
            self.first = t
        elif t == last:
            self.repeats.flag(position - self.skipped, t, ["repeated_open_time"])
            self.skipped += 1
            return False
        else:
            self._add_gap(next_open(last, self.interval), align(t - 1, self.interval))
        return True

    def _add_gap(self, first: int, last: int) -> None:
        if last < first:
            return
        missing = count_open_times(first, last + 1, self.interval)
        end = next_open(last, self.interval)
        self.gaps.add(Gap(first, last, missing, first, end, {"interval": self.interval}))

    def finish(self) -> int:
        """Close the scan: report a trailing gap and return how many candles were expected."""
        last = self._last
        if last is not None and last < self.limit:
            self._add_gap(next_open(last, self.interval), self.limit)
        if self.first is None or self.first > self.limit:
            return 0
        return count_open_times(self.first, self.limit + 1, self.interval)


class IdGaps:
    """aggTrade ids must rise by one from trade to trade."""

    def __init__(self, previous: Trade | None, gaps: GapList) -> None:
        self.gaps = gaps
        self.present = 0
        self._last_id = previous.trade_id if previous else None
        self._last_time = previous.trade_time if previous else 0

    def feed(self, ids: Sequence[int], times: Sequence[int]) -> None:
        """The next aggregate trades' ids and times, in time order."""
        last_id, last_time = self._last_id, self._last_time
        for tid, time in zip(ids, times, strict=True):
            if last_id is not None and tid != last_id + 1:
                if tid <= last_id:
                    continue  # a repeat: the duplicates check reports it
                details = {"first_missing_id": last_id + 1, "last_missing_id": tid - 1}
                self.gaps.add(Gap(last_time, time, tid - last_id - 1, last_time, time + 1, details))
            last_id, last_time = tid, time
            self.present += 1
        self._last_id, self._last_time = last_id, last_time


class DepthChain:
    """Each depth update's ``pu`` must equal the previous update's ``u``."""

    def __init__(self, previous: DepthUpdate | None, gaps: GapList) -> None:
        self.gaps = gaps
        self.present = 0
        self._last_u = previous.final_update_id if previous else None
        self._last_time = previous.event_time if previous else 0

    def feed(self, us: Sequence[int], pus: Sequence[int], times: Sequence[int]) -> None:
        """The next updates' ``u``, ``pu`` and event times, in time order."""
        last_u, last_time = self._last_u, self._last_time
        for u, pu, time in zip(us, pus, times, strict=True):
            if last_u is not None and pu != last_u:
                if u <= last_u:
                    continue  # a repeat: the duplicates check reports it
                # Update ids are not dense, so how many updates went missing is unknown.
                details = {"previous_u": last_u, "pu": pu}
                self.gaps.add(Gap(last_time, time, None, last_time, time + 1, details))
            last_u, last_time = u, time
            self.present += 1
        self._last_u, self._last_time = last_u, last_time


def cadence(times: Sequence[int]) -> int | None:
    """The usual spacing of events (median, to the second); None with under two spacings."""
    spacings = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
    if len(spacings) < 2:
        return None
    return round(statistics.median(spacings) / SECOND_MS) * SECOND_MS


class CadenceGaps:
    """Events expected every ``cadence_ms`` (funding rates): a longer silence is a gap."""

    def __init__(self, cadence_ms: int, previous: int | None, gaps: GapList) -> None:
        self.cadence = cadence_ms
        self.gaps = gaps
        self.present = 0
        self._last = previous

    def feed(self, times: Sequence[int]) -> None:
        last, step = self._last, self.cadence
        for t in times:
            if last is not None:
                if t <= last:
                    continue  # a repeat: the duplicates check reports it
                if t - last > step * CADENCE_SLACK:
                    missing = max(1, round((t - last) / step) - 1)
                    details = {"cadence_ms": step, "after": last, "before": t}
                    self.gaps.add(Gap(last + step, t - step, missing, last + 1, t, details))
            last = t
            self.present += 1
        self._last = last
