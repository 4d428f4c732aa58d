"""Stores what an audit found (findings, health) and tells the rest of the suite."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from petrosa_auditor import metrics
from petrosa_auditor.findings import DUPLICATES, ERROR, GAPS
from petrosa_auditor.report import DatasetReport
from petrosa_core.contracts import AUDIT_HEALTH, AuditEvent, AuditEventType, HealthUpdate
from petrosa_core.errors import BusError
from petrosa_core.health import band
from petrosa_core.metadata import Finding, FindingIn, MetadataStore

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]


class Run(msgspec.Struct, frozen=True):
    """Who ran an audit: the lease term's fencing token and the process."""

    token: int | None
    pid: int = msgspec.field(default_factory=os.getpid)


def _outside(finding: Finding, report: DatasetReport) -> bool:
    """Whether ``finding`` lies wholly outside what ``report`` looked at."""
    if finding.range_end is not None and report.start is not None:
        if finding.range_end < report.start:
            return True
    return finding.range_start is not None and finding.range_start >= report.end


def _still(finding: Finding) -> FindingIn:
    return FindingIn(finding.severity, finding.range_start, finding.range_end, finding.details)


def worth_telling(finding: Finding) -> bool:
    """New errors and gaps are what downstream services react to."""
    return finding.severity == ERROR or finding.check == GAPS


class Recorder:
    """Writes findings through ``sync_findings``, health through ``add_health``, events to NATS.

    Every health measurement stored is also announced on ``health_subject`` (dashboards).
    """

    def __init__(
        self,
        metadata: MetadataStore,
        publish: Publish | None = None,
        events_subject: str = "",
        health_subject: str = AUDIT_HEALTH,
    ) -> None:
        self.metadata = metadata
        self.publish = publish
        self.events_subject = events_subject
        self.health_subject = health_subject
        self._open: dict[str, Counter[tuple[str, str]]] = {}

    async def record(self, report: DatasetReport, run: Run) -> list[Finding]:
        """Store one report; returns the findings it opened."""
        known = await self.metadata.open_findings(report.dataset)
        opened: list[Finding] = []
        resolved: list[Finding] = []
        still_open: list[Finding] = []
        for result in report.checks:
            fixed = result.check == DUPLICATES and bool(report.removed)
            current = [] if fixed else list(result.findings)
            carried = [_still(f) for f in known if f.check == result.check and _outside(f, report)]
            synced = await self.metadata.sync_findings(
                report.dataset, result.check, current + carried
            )
            opened += synced.opened
            resolved += synced.resolved
            still_open += synced.opened + synced.still_open
            if fixed:
                await self._record_removed(report, result.findings)
        await self._add_health(report, run)
        self._count(report, opened, still_open)
        await self._tell(report, opened, resolved)
        await self._tell_health(report, len(still_open))
        return opened

    async def _record_removed(self, report: DatasetReport, removed: list[FindingIn]) -> None:
        """Duplicates removed in this audit: each is a finding, resolved at once."""
        for finding in removed:
            details = {**finding.details, "removed": True}
            finding_id = await self.metadata.add_finding(
                report.dataset,
                DUPLICATES,
                finding.severity,
                finding.range_start,
                finding.range_end,
                details,
            )
            await self.metadata.resolve_finding(finding_id)
        metrics.DUPLICATES_REMOVED.inc(sum(len(r.removed) for r in report.removed))

    async def _add_health(self, report: DatasetReport, run: Run) -> None:
        details: dict[str, Any] = {
            "mode": report.mode,
            "start": report.start,
            "end": report.end,
            "records": report.records,
            "expected": report.expected,
            "findings": {r.check: r.total for r in report.checks},
            "counts": report.counts,
            "started_at": report.started_at,
            "finished_at": report.finished_at,
            "read_seconds": report.read_seconds,
            "check_seconds": report.check_seconds,
            "token": run.token,
            "pid": run.pid,
        }
        h = report.health
        await self.metadata.add_health(
            report.dataset,
            score=report.score,
            completeness=h.completeness,
            validity=h.validity,
            freshness=h.freshness,
            consistency=h.consistency,
            details=details,
            measured_at=report.finished_at,
        )

    async def _tell_health(self, report: DatasetReport, open_findings: int) -> None:
        """Announce the measurement just stored; a failed publish loses nothing stored."""
        if self.publish is None:
            return
        h = report.health
        update = HealthUpdate(
            dataset_id=report.dataset,
            score=report.score,
            band=band(report.score),
            completeness=h.completeness,
            validity=h.validity,
            freshness=h.freshness,
            consistency=h.consistency,
            open_findings=open_findings,
            measured_time=report.finished_at,
        )
        try:
            await self.publish(self.health_subject, update.encode())
        except BusError as exc:
            log.warning("cannot publish health update: %s", exc)

    def _count(self, report: DatasetReport, opened: list[Finding], still: list[Finding]) -> None:
        metrics.HEALTH_SCORE.labels(report.dataset).set(report.score)
        for finding in opened:
            metrics.FINDINGS_OPENED.labels(finding.check, finding.severity).inc()
        previous = self._open.get(report.dataset, Counter())
        now = Counter((f.check, f.severity) for f in still)
        self._open[report.dataset] = now
        for check, severity in set(previous) | set(now):
            delta = now[(check, severity)] - previous[(check, severity)]
            metrics.OPEN_FINDINGS.labels(check, severity).inc(delta)

    async def _tell(
        self, report: DatasetReport, opened: list[Finding], resolved: list[Finding]
    ) -> None:
        if self.publish is None:
            return
        events = [
            AuditEvent.of_finding(AuditEventType.FINDING_OPENED, f)
            for f in opened
            if worth_telling(f)
        ]
        events += [
            AuditEvent.of_finding(AuditEventType.FINDING_RESOLVED, f)
            for f in resolved
            if f.check == GAPS
        ]
        for event in events:
            try:
                await self.publish(self.events_subject, event.encode())
            except BusError as exc:
                # Findings are stored; a subscriber that missed this can read them there.
                log.warning("cannot publish audit event: %s", exc)
                return
