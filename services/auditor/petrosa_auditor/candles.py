"""The audit of one candle dataset: one paged pass for gaps, repeats, validity and jumps."""

from __future__ import annotations

from typing import cast

import numpy as np

from petrosa_auditor.checks.consistency import (
    Aggregator,
    consistency_finding,
    finer_interval,
    mismatches,
)
from petrosa_auditor.checks.freshness import freshness
from petrosa_auditor.checks.gaps import GridGaps
from petrosa_auditor.checks.jumps import PriceJumps
from petrosa_auditor.checks.validity import scan_candles
from petrosa_auditor.columns import CandleColumns
from petrosa_auditor.context import AuditContext, Outcome
from petrosa_auditor.findings import (
    CONSISTENCY,
    DUPLICATES,
    ERROR,
    FRESHNESS,
    GAPS,
    PRICE_JUMPS,
    VALIDITY,
    WARNING,
    Runs,
)
from petrosa_auditor.score import ratio
from petrosa_core.intervals import align, interval_ms, next_open
from petrosa_core.models import Candle, DatasetId, DatasetKind

CANDLE_CHECKS = (GAPS, DUPLICATES, VALIDITY, PRICE_JUMPS, FRESHNESS, CONSISTENCY)


def last_expected_open(interval: str, end: int | None, now: int, grace_ms: int) -> int:
    """Open time of the newest candle due: closed ``grace_ms`` ago, opened before ``end``."""
    settled = align(align(now - grace_ms, interval) - 1, interval)
    return settled if end is None else min(settled, align(end - 1, interval))


def first_expected_open(interval: str, start: int) -> int:
    aligned = align(start, interval)
    return aligned if aligned == start else next_open(aligned, interval)


class CandleScan:
    """The one pass over a candle dataset's pages that feeds every per-candle check."""

    def __init__(self, ctx: AuditContext, out: Outcome, previous: Candle | None) -> None:
        self.out = out
        self.interval = cast(str, ctx.dataset.interval)
        self.grid = GridGaps(
            self.interval,
            previous.open_time if previous else None,
            first_expected_open(self.interval, ctx.start) if ctx.start is not None else None,
            last_expected_open(self.interval, ctx.end, ctx.now, ctx.config.freshness_grace_ms),
            out.gaps,
            Runs(out.checks[DUPLICATES], WARNING),
        )
        self.invalid = Runs(out.checks[VALIDITY], ERROR)
        self.jumps = Runs(out.checks[PRICE_JUMPS], WARNING)
        close = previous.close if previous else None
        self.prices = PriceJumps(ctx.config.price_jump_k, close, self.jumps)
        self.tail: list[Candle] = [previous] if previous else []

    def feed(self, candles: CandleColumns) -> None:
        self.grid.feed(candles.open_time)
        scan_candles(candles, self.interval, self.invalid, self.out.records)
        self.prices.feed(candles.open_time.tolist(), candles.close.tolist(), self.out.records)
        self.out.records += len(candles)
        self.tail = [candles.candle(i) for i in range(max(0, len(candles) - 2), len(candles))]

    def finish(self) -> list[Candle]:
        """Close every check, fill in the outcome; returns the newest candles seen, newest first."""
        self.prices.flush()
        for runs in (self.grid.repeats, self.invalid, self.jumps):
            runs.close()
        out = self.out
        out.expected = self.grid.finish()
        out.completeness = ratio(self.grid.present, out.expected)
        out.distinct = out.records - self.grid.repeats.flagged
        out.invalid = self.invalid.flagged
        out.counts = {"missing": out.gaps.missing, "price_jumps": self.jumps.flagged}
        return self.tail[::-1]


async def audit_candles(ctx: AuditContext) -> Outcome:
    """Gaps on the grid, repeated open times, invalid candles, jumps, freshness, consistency."""
    out = Outcome.of(CANDLE_CHECKS, ctx.config.max_findings)
    previous = cast(Candle | None, await ctx.reader.before(ctx.dataset, ctx.start))
    scan = CandleScan(ctx, out, previous)
    async for table in ctx.reader.tables(ctx.dataset, ctx.start, ctx.end):
        scan.feed(CandleColumns.of(table, ctx.dataset.symbol, scan.interval))
    newest = scan.finish()
    # Read to the end, the scan has seen the newest candles: no need to ask the store.
    await _freshness(ctx, out, scan.interval, newest if ctx.end is None else None)
    await _consistency(ctx, out, scan.interval)
    return out


async def _freshness(
    ctx: AuditContext, out: Outcome, interval: str, newest: list[Candle] | None
) -> None:
    if newest is None:
        newest = cast(list[Candle], await ctx.reader.latest(ctx.dataset, 2))
    closed = next((c for c in newest if c.is_closed), None)
    # A candle is complete when it closes: its age counts from then.
    completed = closed.close_time + 1 if closed else None
    step = interval_ms(interval) if interval != "1M" else 31 * 86_400_000
    out.freshness = freshness(completed, ctx.now, step + ctx.config.freshness_grace_ms)
    if out.freshness.finding is not None:
        out.checks[FRESHNESS].add(out.freshness.finding)
    out.last_time = newest[0].open_time if newest else None


async def _consistency(ctx: AuditContext, out: Outcome, interval: str) -> None:
    """Compare each closed candle with the aggregate of the finest interval that tiles it."""
    fine = finer_interval(interval, ctx.intervals)
    if fine is None:
        return
    source = DatasetId(DatasetKind.CANDLES, ctx.dataset.symbol, fine)
    compared = differing = 0
    async for table in ctx.reader.tables(ctx.dataset, ctx.start, ctx.end):
        coarse = CandleColumns.of(table, ctx.dataset.symbol, interval)
        closed = np.flatnonzero(coarse.is_closed).tolist()
        if not closed:
            continue
        aggregator = Aggregator(interval, fine)
        first, last = coarse.open_time[closed[0]], next_open(coarse.open_time[closed[-1]], interval)
        async for fine_table in ctx.reader.tables(source, int(first), last):
            aggregator.feed(CandleColumns.of(fine_table, ctx.dataset.symbol, fine))
        for i in closed:
            bucket = aggregator.complete(int(coarse.open_time[i]))
            if bucket is None:
                continue
            compared += 1
            candle = coarse.candle(i)
            if fields := mismatches(candle, bucket, ctx.config.volume_tolerance):
                differing += 1
                out.checks[CONSISTENCY].add(consistency_finding(candle, fields, str(source)))
    out.consistency = ratio(compared - differing, compared)
    out.counts.update(consistency_compared=compared, consistency_differing=differing)
