"""Reading candles, computing the configured metrics, and shaping results for the store.

The formulas are the metric library's (``petrosa_analytics.metrics``); this module only
decides which bars each computation sees and what a stored result records about them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from petrosa_analytics import telemetry
from petrosa_analytics.metrics import (
    DEFAULT_WINDOWS,
    FAMILIES,
    METHODS,
    Bars,
    MetricResult,
    bars_needed,
    compute,
    correlation,
    rolling_correlation,
)
from petrosa_core.errors import ValidationError
from petrosa_core.intervals import interval_ms
from petrosa_core.market import MarketStore
from petrosa_core.market.analytics import AnalyticsResult, ResultLineage
from petrosa_core.models import DatasetId
from petrosa_core.times import now_ms

log = logging.getLogger(__name__)

PROCESS = "analytics"
# The candle columns the metrics read; the rest of a candle is never loaded.
SCAN_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trade_count",
    "taker_buy_base_volume",
    "taker_buy_quote_volume",
    "is_closed",
)
# The correlation method answering a time series of two pairs' correlation.
ROLLING = "rolling_pearson"
# A window of n bars spans n - 1 returns; one more bar for the returns, one for a still
# open candle that ``Bars`` drops.
_EXTRA_BARS = 2
# The newest candle may still be open, and ``Bars`` drops it.
_OPEN_CANDLE = 1


@dataclass(frozen=True)
class Schedule:
    """Which windows (in bars) each scheduled family is computed over."""

    windows: Mapping[str, tuple[int, ...]]

    @classmethod
    def of(cls, configured: Mapping[str, Sequence[int]]) -> Schedule:
        """The configured windows; a family left out keeps the library's default window."""
        return cls({f: tuple(configured.get(f) or (DEFAULT_WINDOWS[f],)) for f in FAMILIES})

    @property
    def bars_needed(self) -> int:
        """The newest bars every family needs for its full windows and warm-ups."""
        needed = (bars_needed(f, w) for f, windows in self.windows.items() for w in windows)
        return max(needed) + _OPEN_CANDLE


class Engine:
    """Computes metrics of stored candles; reads at most ``max_bars`` bars on demand."""

    def __init__(
        self,
        market: MarketStore,
        schedule: Schedule,
        *,
        max_bars: int,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.market = market
        self.schedule = schedule
        self.max_bars = max_bars
        self.clock = clock

    async def read(self, dataset: DatasetId, bars: int) -> Bars:
        """The newest ``bars`` candles of ``dataset`` as closed bars, oldest first."""
        step = interval_ms(dataset.interval or "")
        page = await self.market.scan(dataset, order="desc", limit=bars, columns=SCAN_COLUMNS)
        table = page.table.take(np.arange(page.table.num_rows - 1, -1, -1))
        return Bars.from_arrow(table, step)

    async def compute_dataset(
        self, dataset: DatasetId, round_id: str = ""
    ) -> list[AnalyticsResult]:
        """Every method of every scheduled family over each configured window."""
        started = time.perf_counter()
        bars = await self.read(dataset, self.schedule.bars_needed)
        telemetry.ITEM_SECONDS.labels("read").observe(time.perf_counter() - started)
        started = time.perf_counter()
        found = await asyncio.to_thread(_scheduled_metrics, bars, self.schedule)
        telemetry.ITEM_SECONDS.labels("compute").observe(time.perf_counter() - started)
        return self.stored_form(dataset, bars, found, round_id)

    async def compute_family(
        self, dataset: DatasetId, family: str, method: str | None, window: int | None
    ) -> list[AnalyticsResult]:
        """One family (one method, if named) over one window: for a request."""
        chosen = self._window(family, window)
        _check_method(family, method)
        bars = await self.read(dataset, self._bars(family, chosen, method))
        found = await asyncio.to_thread(_family, family, bars, method, chosen)
        return self.stored_form(dataset, bars, found, "")

    async def correlate(
        self, datasets: Sequence[DatasetId], method: str | None, window: int | None
    ) -> tuple[MetricResult, Bars]:
        """The correlation matrix of the pairs' aligned log returns; bars of the first pair.

        ``rolling_pearson`` of exactly two pairs answers the series of each window's
        correlation instead, over the last ``window`` windows.
        """
        if method == ROLLING:
            return await self._rolling(datasets, window)
        chosen = self._window("correlation", window)
        _check_method("correlation", method)
        needed = self._bars("correlation", chosen, method)
        series = {d.symbol: await self.read(d, needed) for d in datasets}
        found = await asyncio.to_thread(
            correlation, series, window=chosen, method=method or "pearson"
        )
        return found, series[datasets[0].symbol]

    async def _rolling(
        self, datasets: Sequence[DatasetId], window: int | None
    ) -> tuple[MetricResult, Bars]:
        if len(datasets) != 2:
            raise ValidationError("bad_pairs", f"{ROLLING} takes exactly two pairs")
        chosen = self._window("correlation", window)
        self._window("correlation", 2 * chosen)  # the bars read must fit the bound too
        first, second = [await self.read(d, 2 * chosen + _EXTRA_BARS) for d in datasets]
        found = await asyncio.to_thread(rolling_correlation, first, second, window=chosen)
        lasts = [int(b.open_time[-1]) for b in (first, second) if len(b)]
        if found.as_of_time is None and lasts:
            # Too few common returns: the answer says why, as of the newest bar read.
            found = dataclasses.replace(found, as_of_time=max(lasts))
        return found, first

    def stored_form(
        self,
        dataset: DatasetId,
        bars: Bars,
        found: Sequence[MetricResult],
        round_id: str,
    ) -> list[AnalyticsResult]:
        """Results as the store keeps them; one without any closed bar has no time to key on."""
        lineage = ResultLineage(
            source=str(dataset),
            process=PROCESS,
            first_time=int(bars.open_time[0]) if len(bars) else None,
            last_time=int(bars.open_time[-1]) if len(bars) else None,
            records=len(bars),
        )
        computed = self.clock()
        return [
            to_stored(dataset, result, lineage, computed, round_id)
            for result in found
            if result.as_of_time is not None
        ]

    def _bars(self, family: str, window: int, method: str | None) -> int:
        """Bars to read for one method (or all of the family's), within the on-demand bound."""
        needed = bars_needed(family, window, method) + _OPEN_CANDLE
        if needed > self.max_bars:
            raise ValidationError(
                "window_too_large", f"this window reads {needed} bars; the bound is {self.max_bars}"
            )
        return needed

    def _window(self, family: str, window: int | None) -> int:
        chosen = DEFAULT_WINDOWS[family] if window is None else window
        if chosen + _EXTRA_BARS > self.max_bars:
            raise ValidationError(
                "window_too_large",
                f"a window reads at most {self.max_bars - _EXTRA_BARS} bars on demand",
            )
        return chosen


def to_stored(
    dataset: DatasetId,
    result: MetricResult,
    lineage: ResultLineage,
    computed_time: int,
    round_id: str,
) -> AnalyticsResult:
    assert result.as_of_time is not None
    return AnalyticsResult(
        dataset=dataset,
        family=result.family,
        method=result.method,
        window=result.window,
        value=result.value,
        as_of_time=result.as_of_time,
        completeness=result.completeness,
        bars_used=result.bars_used,
        computed_time=computed_time,
        lineage=lineage,
        round_id=round_id,
        extra=result.extra,
    )


def _check_method(family: str, method: str | None) -> None:
    if method is not None and method not in METHODS[family]:
        known = ", ".join(METHODS[family])
        raise ValidationError("unknown_method", f"{method[:40]!r} is not one of {known}")


def _family(family: str, bars: Bars, method: str | None, window: int) -> list[MetricResult]:
    try:
        return compute(family, bars, method=method, window=window)
    except NotImplementedError as exc:
        raise ValidationError("family_unavailable", str(exc)) from None


def _scheduled_metrics(bars: Bars, schedule: Schedule) -> list[MetricResult]:
    """Each family over each window, timed per family; families not yet built are skipped."""
    found: list[MetricResult] = []
    for family, windows in schedule.windows.items():
        started = time.perf_counter()
        try:
            for window in windows:
                found.extend(compute(family, bars, window=window))
        except NotImplementedError:
            continue
        telemetry.COMPUTE_SECONDS.labels(family).observe(time.perf_counter() - started)
    return found


__all__ = ["Engine", "Schedule"]
