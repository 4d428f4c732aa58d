"""The audit of an event dataset: trades, depth, funding, mark prices, tickers, book tickers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from petrosa_auditor.checks.duplicates import Repeats, ints, natural_keys
from petrosa_auditor.checks.freshness import STREAM_SILENCE_MS, freshness
from petrosa_auditor.checks.gaps import CadenceGaps, DepthChain, GapList, IdGaps, cadence
from petrosa_auditor.checks.validity import scan_table
from petrosa_auditor.context import AuditContext, Outcome
from petrosa_auditor.findings import DUPLICATES, ERROR, FRESHNESS, GAPS, VALIDITY, WARNING, Runs
from petrosa_auditor.score import ratio
from petrosa_core.intervals import HOUR_MS
from petrosa_core.models import KIND_SPECS, DatasetKind, DepthUpdate, FundingRate, Trade

if TYPE_CHECKING:
    import pyarrow as pa

STREAM_CHECKS = (GAPS, DUPLICATES, VALIDITY, FRESHNESS)
# Binance settles funding every 8 hours on most symbols; used until enough is stored to see.
DEFAULT_FUNDING_CADENCE_MS = 8 * HOUR_MS
# Funding events read to estimate a symbol's cadence: weeks of history, a tiny read.
CADENCE_SAMPLE = 50


class Continuity(Protocol):
    """A continuity scanner fed tables of records; ``present`` counts those that chain."""

    @property
    def present(self) -> int: ...

    def feed(self, table: pa.Table) -> None: ...


class _AggTrades:
    """Feeds only the aggregate trades of a page to the id-continuity scan."""

    def __init__(self, previous: Trade | None, gaps: GapList) -> None:
        self.ids = IdGaps(previous, gaps)

    @property
    def present(self) -> int:
        return self.ids.present

    def feed(self, table: pa.Table) -> None:
        import pyarrow.compute as pc

        agg = table.filter(pc.equal(table.column("trade_type"), "agg"))
        self.ids.feed(ints(agg, "trade_id"), ints(agg, "trade_time"))


class _Depth:
    def __init__(self, previous: DepthUpdate | None, gaps: GapList) -> None:
        self.chain = DepthChain(previous, gaps)

    @property
    def present(self) -> int:
        return self.chain.present

    def feed(self, table: pa.Table) -> None:
        us, pus = ints(table, "final_update_id"), ints(table, "prev_final_update_id")
        self.chain.feed(us, pus, ints(table, "event_time"))


class _Funding:
    def __init__(self, cadence_ms: int, previous: FundingRate | None, gaps: GapList) -> None:
        self.gaps = CadenceGaps(cadence_ms, previous.funding_time if previous else None, gaps)

    @property
    def present(self) -> int:
        return self.gaps.present

    def feed(self, table: pa.Table) -> None:
        self.gaps.feed(ints(table, "funding_time"))


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
    kind, time_field = ctx.dataset.kind, KIND_SPECS[ctx.dataset.kind].time_field
    async for table in ctx.reader.tables(ctx.dataset, ctx.start, ctx.end):
        if scanner is not None:
            scanner.feed(table)
        times = ints(table, time_field)
        repeats.feed(natural_keys(kind, table), times)
        scan_table(kind, table, invalid, out.records)
        out.records += table.num_rows
        last = times[-1]
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
