"""The auditor: runs every check of one dataset and turns what they saw into a report.

It only reads the market store (and, with duplicate removal on, deletes surplus copies);
recording findings and health, and requesting repairs, belong to its callers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from petrosa_auditor.candles import audit_candles
from petrosa_auditor.checks.duplicates import flag_groups
from petrosa_auditor.context import AuditConfig, AuditContext, Outcome, Scope
from petrosa_auditor.findings import DUPLICATES, GAPS, WARNING, Findings, Runs
from petrosa_auditor.reader import TimedReader
from petrosa_auditor.report import CheckResult, DatasetReport
from petrosa_auditor.score import Health, ratio
from petrosa_auditor.streams import audit_stream
from petrosa_core.errors import ValidationError
from petrosa_core.market import (
    DuplicateGroup,
    DuplicateScanner,
    DuplicateStrategy,
    MarketStore,
    Removal,
)
from petrosa_core.models import DatasetId, DatasetKind
from petrosa_core.symbols import check_symbol
from petrosa_core.times import Clock, now_ms

log = logging.getLogger("petrosa.auditor")

# Groups of copies removed per round trip: bounded memory however many there are.
REMOVAL_BATCH = 500


class Auditor:
    """Audits datasets of one market store; ``duplicates`` reaches legacy copies, if any."""

    def __init__(
        self,
        market: MarketStore,
        config: AuditConfig,
        *,
        duplicates: DuplicateScanner | None = None,
        removal: DuplicateStrategy | None = None,
        clock: Clock = now_ms,
    ) -> None:
        self.market = market
        self.config = config
        self.duplicates = duplicates
        self.removal = removal
        self.clock = clock
        self._skipped: set[DatasetId] = set()

    async def datasets(self) -> list[DatasetId]:
        """Every dataset holding records, in id order, but those no symbol rule admits.

        Data stored before symbols were checked (lower-case, path-like, thousands of
        characters) can be neither read back by symbol nor backfilled: it is left alone.
        """
        found = []
        for info in await self.market.datasets():
            try:
                check_symbol(info.dataset.symbol)
            except ValidationError:
                if info.dataset not in self._skipped:
                    self._skipped.add(info.dataset)
                    log.warning("not auditing %s: its symbol is not a Binance symbol", info)
                continue
            found.append(info.dataset)
        return sorted(found, key=str)

    async def audit(
        self, dataset: DatasetId, scope: Scope, intervals: Sequence[str] | None = None
    ) -> DatasetReport:
        """Run every check of ``dataset`` over ``scope``; ``intervals`` saves a catalog read."""
        started, clock_start = self.clock(), time.perf_counter()
        start, end = scope.bounds(started)
        if intervals is None and dataset.kind is DatasetKind.CANDLES:
            intervals = intervals_of(await self.datasets(), dataset.symbol)
        reader = TimedReader(self.market, self.config.page_size)
        ctx = AuditContext(
            reader, dataset, start, end, started, self.config, tuple(intervals or ())
        )
        kind_audit = audit_candles if dataset.kind is DatasetKind.CANDLES else audit_stream
        outcome = await kind_audit(ctx)
        removed = await self._duplicates(ctx, outcome)
        elapsed = time.perf_counter() - clock_start
        return _report(ctx, scope, outcome, removed, self.clock(), elapsed)

    async def _duplicates(self, ctx: AuditContext, out: Outcome) -> list[Removal]:
        """Copies side by side in the pages are counted; a scanner finds the rest.

        Only a scanner's backend can hold copies the pages do not show side by side, so
        the stored count is read, and compared with the keys seen, only then.
        """
        out.extra_copies = out.records - out.distinct
        if self.duplicates is None:
            return []
        stored = await ctx.reader.count(ctx.dataset, ctx.start, ctx.end)
        if stored <= out.distinct:
            return []
        return await self._scan_duplicates(ctx, out, self.duplicates)

    async def _scan_duplicates(
        self, ctx: AuditContext, out: Outcome, scanner: DuplicateScanner
    ) -> list[Removal]:
        findings = Findings(DUPLICATES, self.config.max_findings)
        runs = Runs(findings, WARNING)
        pending: list[DuplicateGroup] = []
        removed: list[Removal] = []
        extra = 0
        async for group in scanner.scan(ctx.dataset, ctx.start, ctx.end):
            extra += flag_groups([group], runs)
            if self.removal is not None:
                pending.append(group)
            if len(pending) >= REMOVAL_BATCH:
                removed += await self._remove(ctx, scanner, pending)
                pending = []
        runs.close()
        if pending:
            removed += await self._remove(ctx, scanner, pending)
        out.checks[DUPLICATES] = findings
        out.extra_copies = 0 if self.removal is not None else extra
        return removed

    async def _remove(
        self, ctx: AuditContext, scanner: DuplicateScanner, groups: list[DuplicateGroup]
    ) -> list[Removal]:
        assert self.removal is not None
        return await ctx.reader.timed(scanner.remove(ctx.dataset, groups, self.removal))


def intervals_of(datasets: Sequence[DatasetId], symbol: str) -> tuple[str, ...]:
    """Candle intervals stored for ``symbol``."""
    return tuple(
        d.interval
        for d in datasets
        if d.kind is DatasetKind.CANDLES and d.symbol == symbol and d.interval is not None
    )


def _report(
    ctx: AuditContext,
    scope: Scope,
    out: Outcome,
    removed: list[Removal],
    finished: int,
    elapsed: float,
) -> DatasetReport:
    health = Health(
        completeness=out.completeness,
        validity=ratio(out.records - out.invalid - out.extra_copies, out.records),
        freshness=out.freshness.score if out.freshness is not None else 1.0,
        consistency=out.consistency,
    )
    checks = []
    for name, findings in out.checks.items():
        if name == GAPS:
            items = [gap.finding() for gap in out.gaps.items]
            checks.append(CheckResult(name, items, out.gaps.total))
        else:
            checks.append(CheckResult(name, findings.items, findings.total))
    return DatasetReport(
        dataset=str(ctx.dataset),
        mode=scope.mode,
        start=ctx.start,
        end=ctx.end if ctx.end is not None else ctx.now,
        started_at=ctx.now,
        finished_at=finished,
        records=out.records,
        expected=out.expected,
        score=health.score,
        health=health,
        checks=checks,
        gaps=out.gaps.items,
        removed=removed,
        last_time=out.last_time,
        read_seconds=round(ctx.reader.seconds, 6),
        check_seconds=round(max(0.0, elapsed - ctx.reader.seconds), 6),
        counts={**out.counts, "invalid": out.invalid, "extra_copies": out.extra_copies},
    )
