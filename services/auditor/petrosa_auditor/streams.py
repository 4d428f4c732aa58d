"""The audit of an event dataset: trades, depth, funding, mark prices, tickers, book tickers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

from petrosa_auditor.checks.duplicates import Repeats
from petrosa_auditor.checks.freshness import STREAM_SILENCE_MS, freshness
from petrosa_auditor.checks.gaps import CadenceGaps, DepthChain, GapList, IdGaps, cadence
from petrosa_auditor.checks.validity import scan_records
from petrosa_auditor.context import AuditContext, Outcome
from petrosa_auditor.findings import DUPLICATES, ERROR, FRESHNESS, GAPS, VALIDITY, WARNING, Runs
from petrosa_auditor.score import ratio
from petrosa_core.intervals import HOUR_MS
from petrosa_core.models import DatasetKind, DepthUpdate, FundingRate, Record, Trade

STREAM_CHECKS = (GAPS, DUPLICATES, VALIDITY, FRESHNESS)
# Binance settles funding every 8 hours on most symbols; used until enough is stored to see.
DEFAULT_FUNDING_CADENCE_MS = 8 * HOUR_MS
# Funding events read to estimate a symbol's cadence: weeks of history, a tiny read.
CADENCE_SAMPLE = 50


class Continuity(Protocol):
    """A continuity scanner fed pages of records; ``present`` counts those that chain."""

    @property
    def present(self) -> int: ...

    def feed(self, records: Sequence[Record]) -> None: ...


class _AggTrades:
    """Feeds only the aggregate trades of a page to the id-continuity scan."""

    def __init__(self, previous: Trade | None, gaps: GapList) -> None:
        self.ids = IdGaps(previous, gaps)

    @property
    def present(self) -> int:
        return self.ids.present

    def feed(self, records: Sequence[Record]) -> None:
        self.ids.feed([t for t in cast(Sequence[Trade], records) if t.trade_type == "agg"])


class _Depth:
    def __init__(self, previous: DepthUpdate | None, gaps: GapList) -> None:
        self.chain = DepthChain(previous, gaps)

    @property
    def present(self) -> int:
        return self.chain.present

    def feed(self, records: Sequence[Record]) -> None:
        self.chain.feed(cast(Sequence[DepthUpdate], records))


class _Funding:
    def __init__(self, cadence_ms: int, previous: FundingRate | None, gaps: GapList) -> None:
        self.gaps = CadenceGaps(cadence_ms, previous.funding_time if previous else None, gaps)

    @property
    def present(self) -> int:
        return self.gaps.present

    def feed(self, records: Sequence[Record]) -> None:
        self.gaps.feed([r.time for r in records])


async def _continuity(ctx: AuditContext, out: Outcome) -> Continuity | None:
    """The gap scanner of this dataset's kind, started from the record before the range."""
    kind = ctx.dataset.kind
    if kind is DatasetKind.TRADES:
        previous = await ctx.reader.before(ctx.dataset, ctx.start, trade_type="agg")
        return _AggTrades(cast(Trade | None, previous), out.gaps)
    if kind is DatasetKind.DEPTH:
        previous = await ctx.reader.before(ctx.dataset, ctx.start)
        return _Depth(cast(DepthUpdate | None, previous), out.gaps)
    if kind is DatasetKind.FUNDING_RATES:
        previous = await ctx.reader.before(ctx.dataset, ctx.start)
        return _Funding(await _cadence(ctx), cast(FundingRate | None, previous), out.gaps)
    return None


async def _cadence(ctx: AuditContext) -> int:
    newest = await ctx.reader.latest(ctx.dataset, CADENCE_SAMPLE)
    return cadence(sorted(r.time for r in newest)) or DEFAULT_FUNDING_CADENCE_MS


async def audit_stream(ctx: AuditContext) -> Outcome:
    """Continuity gaps where the kind has a sequence, repeats, invalid records, freshness."""
    out = Outcome.of(STREAM_CHECKS, ctx.config.max_findings)
    scanner = await _continuity(ctx, out)
    repeats = Repeats(Runs(out.checks[DUPLICATES], WARNING))
    invalid = Runs(out.checks[VALIDITY], ERROR)
    last: int | None = None
    async for page in ctx.reader.pages(ctx.dataset, ctx.start, ctx.end):
        if scanner is not None:
            scanner.feed(page)
        repeats.feed(page)
        scan_records(page, invalid, out.records)
        out.records += len(page)
        last = page[-1].time
    repeats.runs.close()
    invalid.close()
    out.distinct = repeats.distinct
    out.invalid = invalid.flagged
    out.completeness, out.expected = _completeness(ctx.dataset.kind, scanner, out.gaps)
    out.counts = {"missing": out.gaps.missing, "breaks": out.gaps.total}
    # Read to the end, the scan has seen the newest record: no need to ask the store.
    await _freshness(ctx, out, scanner, last if ctx.end is None else None)
    return out


def _completeness(
    kind: DatasetKind, scanner: Continuity | None, gaps: GapList
) -> tuple[float, int | None]:
    if scanner is None:
        return 1.0, None
    if kind is DatasetKind.DEPTH:
        # Missing updates cannot be counted; each break costs one update's worth.
        return ratio(scanner.present - gaps.total, scanner.present), None
    expected = scanner.present + gaps.missing
    return ratio(scanner.present, expected), expected


async def _freshness(
    ctx: AuditContext, out: Outcome, scanner: Continuity | None, last: int | None
) -> None:
    if last is None:
        newest = await ctx.reader.latest(ctx.dataset, 1)
        last = newest[0].time if newest else None
    if isinstance(scanner, _Funding):
        allowed = scanner.gaps.cadence
    else:
        allowed = STREAM_SILENCE_MS[ctx.dataset.kind]
    out.freshness = freshness(last, ctx.now, allowed + ctx.config.freshness_grace_ms)
    if out.freshness.finding is not None:
        out.checks[FRESHNESS].add(out.freshness.finding)
    out.last_time = last
