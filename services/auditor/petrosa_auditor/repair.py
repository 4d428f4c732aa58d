"""The repair loop: long enough gaps become backfill requests, and finished jobs re-audits.

Requests go to the backfillers over NATS request/reply; the reply carries the job id at
once. At most ``max_jobs`` are outstanding, and a gap already covered by an outstanding
job (ours, or any active job in the metadata store) is never requested twice.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from petrosa_auditor import metrics
from petrosa_auditor.checks.gaps import Gap
from petrosa_auditor.findings import GAPS
from petrosa_auditor.report import CheckResult, DatasetReport
from petrosa_core.errors import BusError
from petrosa_core.metadata import FINAL_STATUSES, JobStatus, MetadataStore
from petrosa_core.models import DatasetId, DatasetKind

log = logging.getLogger(__name__)

Request = Callable[[str, bytes, float], Awaitable[bytes]]

# What the backfiller can fetch from Binance for each kind; depth history is not offered.
DATA_TYPES: dict[DatasetKind, str] = {
    DatasetKind.CANDLES: "candles",
    DatasetKind.FUNDING_RATES: "funding_rates",
    DatasetKind.TRADES: "agg_trades",
}
# A job neither announced nor found in the metadata store for this long is forgotten, so
# a lost event cannot block its gap for good; real jobs report far sooner.
FORGET_AFTER_SECONDS = 6 * 3600.0
# Gaps a completed backfill left unfilled (a delisted symbol, an exchange outage): they
# are not requested again by this leader. The oldest are forgotten beyond this many.
UNFILLABLE_MEMORY = 10_000
FINAL_NAMES = frozenset(s.value for s in FINAL_STATUSES)


class Job(msgspec.Struct, frozen=True):
    """An outstanding backfill of ``[start, end)`` of ``dataset``, for the gap at ``gap``."""

    job_id: str
    dataset: str
    start: int
    end: int
    gap: int
    requested_at: float  # time.monotonic()


class Finished(msgspec.Struct, frozen=True):
    job: Job
    status: str


class BackfillEvent(msgspec.Struct, frozen=True):
    """The fields of a ``petrosa.backfill.events`` message the auditor reads."""

    job_id: str
    status: str
    dataset_id: str | None = None


class AutoBackfill:
    """Requests backfills for gaps and tracks the jobs until they finish."""

    def __init__(
        self,
        request: Request,
        metadata: MetadataStore,
        *,
        subject: str,
        min_gap_seconds: float,
        max_jobs: int,
        timeout: float,
    ) -> None:
        self._request = request
        self.metadata = metadata
        self.subject = subject
        self.min_gap_seconds = min_gap_seconds
        self.max_jobs = max_jobs
        self.timeout = timeout
        self.outstanding: dict[str, Job] = {}
        self.unfillable: OrderedDict[tuple[str, int], str] = OrderedDict()

    async def repair(self, report: DatasetReport) -> dict[tuple[int, int], str]:
        """Request backfills for the report's long gaps; returns gap range -> job id."""
        dataset = DatasetId.parse(report.dataset)
        if dataset.kind not in DATA_TYPES:
            return {}
        jobs: dict[tuple[int, int], str] = {}
        for gap in report.gaps:
            if gap.seconds < self.min_gap_seconds:
                continue
            job_id = await self._job_for(dataset, gap)
            if job_id is not None:
                jobs[(gap.first, gap.last)] = job_id
        metrics.BACKFILLS_OUTSTANDING.set(len(self.outstanding))
        return jobs

    async def _job_for(self, dataset: DatasetId, gap: Gap) -> str | None:
        """The job filling ``gap``: one already outstanding, or a new request if room."""
        if (str(dataset), gap.first) in self.unfillable:
            return None
        for job in self.outstanding.values():
            if (
                job.dataset == str(dataset)
                and job.start < gap.fill_end
                and gap.fill_start < job.end
            ):
                return job.job_id
        active = await self.metadata.find_overlapping_job(dataset, gap.fill_start, gap.fill_end)
        if active is not None:
            metrics.BACKFILL_REQUESTS.labels("existing").inc()
            return self._track(active.id, dataset, active.range_start, active.range_end, gap)
        if len(self.outstanding) >= self.max_jobs:
            return None
        return await self._send(dataset, gap)

    def _track(self, job_id: str, dataset: DatasetId, start: int, end: int, gap: Gap) -> str:
        job = Job(job_id, str(dataset), start, end, gap.first, time.monotonic())
        self.outstanding[job_id] = job
        return job_id

    async def _send(self, dataset: DatasetId, gap: Gap) -> str | None:
        payload: dict[str, Any] = {
            "symbol": dataset.symbol,
            "data_type": DATA_TYPES[dataset.kind],
            "start": gap.fill_start,
            "end": gap.fill_end,
            "origin": "auditor",
        }
        if dataset.interval is not None:
            payload["interval"] = dataset.interval
        try:
            raw = await self._request(self.subject, msgspec.json.encode(payload), self.timeout)
            reply = msgspec.json.decode(raw)
        except (BusError, msgspec.DecodeError) as exc:
            metrics.BACKFILL_REQUESTS.labels("failed").inc()
            log.warning("backfill request for %s failed: %s", dataset, exc)
            return None
        if not isinstance(reply, dict) or not isinstance(reply.get("job_id"), str):
            metrics.BACKFILL_REQUESTS.labels("failed").inc()
            log.warning("backfill of %s refused", dataset, extra={"reply": reply})
            return None
        metrics.BACKFILL_REQUESTS.labels("requested").inc()
        log.info(
            "backfill requested",
            extra={
                "dataset": str(dataset),
                "job_id": reply["job_id"],
                "start": gap.fill_start,
                "end": gap.fill_end,
                "gap_seconds": gap.seconds,
            },
        )
        return self._track(reply["job_id"], dataset, gap.fill_start, gap.fill_end, gap)

    def finished(self, event: BackfillEvent) -> Finished | None:
        """The outstanding job an event reports finished, now forgotten; else None."""
        if event.status not in FINAL_NAMES:
            return None
        job = self.outstanding.pop(event.job_id, None)
        return None if job is None else self._done(job, event.status)

    async def poll(self) -> list[Finished]:
        """Jobs the metadata store shows finished (events can be missed), and stale ones."""
        done: list[Finished] = []
        for job in list(self.outstanding.values()):
            row = await self.metadata.get_job(job.job_id)
            if row is not None and row.status in FINAL_STATUSES:
                del self.outstanding[job.job_id]
                done.append(self._done(job, row.status.value))
            elif row is None and time.monotonic() - job.requested_at > FORGET_AFTER_SECONDS:
                del self.outstanding[job.job_id]
                log.warning("backfill job %s never appeared; forgetting it", job.job_id)
        metrics.BACKFILLS_OUTSTANDING.set(len(self.outstanding))
        return done

    def _done(self, job: Job, status: str) -> Finished:
        if status == JobStatus.COMPLETED.value:
            # Should the gap still be there, Binance has nothing for it: do not ask again.
            self.unfillable[(job.dataset, job.gap)] = job.job_id
            if len(self.unfillable) > UNFILLABLE_MEMORY:
                self.unfillable.popitem(last=False)
        metrics.REPAIRS.labels(status).inc()
        metrics.BACKFILLS_OUTSTANDING.set(len(self.outstanding))
        level = logging.INFO if status == JobStatus.COMPLETED.value else logging.WARNING
        log.log(
            level,
            "backfill repair finished",
            extra={
                "dataset": job.dataset,
                "job_id": job.job_id,
                "status": status,
                "start": job.start,
                "end": job.end,
            },
        )
        return Finished(job, status)


def annotate(report: DatasetReport, jobs: dict[tuple[int, int], str]) -> DatasetReport:
    """The report with each gap finding naming the backfill job that fills it."""
    if not jobs:
        return report
    checks = []
    for result in report.checks:
        if result.check == GAPS:
            findings = [
                msgspec.structs.replace(f, details={**f.details, "backfill_job_id": job})
                if (job := jobs.get((f.range_start or 0, f.range_end or 0))) is not None
                else f
                for f in result.findings
            ]
            result = CheckResult(result.check, findings, result.total)
        checks.append(result)
    return msgspec.structs.replace(report, checks=checks)
