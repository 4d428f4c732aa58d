"""The repair loop: long enough gaps become backfill requests, and finished jobs re-audits.

Requests go to the backfillers over NATS request/reply; the reply names at once every job
that covers the gap (active jobs cover their part, new jobs the rest). At most
``max_jobs`` are outstanding, and a gap wholly covered by outstanding jobs (ours, or any
active job in the metadata store) is never requested again.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

import msgspec

from petrosa_auditor import metrics
from petrosa_auditor.checks.gaps import Gap
from petrosa_auditor.findings import GAPS
from petrosa_auditor.report import CheckResult, DatasetReport
from petrosa_core import tracing
from petrosa_core.contracts import (
    BackfillEvent,
    BackfillReply,
    BackfillRequest,
    DataType,
    ErrorReply,
    decode_reply,
)
from petrosa_core.errors import BusError, ParseError, StoreError
from petrosa_core.metadata import FINAL_STATUSES, JobStatus, MetadataStore
from petrosa_core.models import DatasetId

log = logging.getLogger(__name__)

Request = Callable[[str, bytes, float], Awaitable[bytes]]
ORIGIN = "auditor"
# A job neither announced nor found in the metadata store for this long is forgotten, so
# a lost event cannot block its gap for good; real jobs report far sooner.
FORGET_AFTER_SECONDS = 6 * 3600.0
# Gaps a completed backfill left unfilled (a delisted symbol, an exchange outage): they
# are not requested again by this leader. The oldest are forgotten beyond this many.
UNFILLABLE_MEMORY = 10_000


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

    async def repair(self, report: DatasetReport) -> dict[tuple[int, int], list[str]]:
        """Request backfills for the report's long gaps; returns gap range -> job ids."""
        dataset = DatasetId.parse(report.dataset)
        if DataType.of_kind(dataset.kind) is None:
            return {}
        jobs: dict[tuple[int, int], list[str]] = {}
        for gap in report.gaps:
            if gap.seconds < self.min_gap_seconds:
                continue
            job_ids = await self._jobs_for(dataset, gap)
            if job_ids:
                jobs[(gap.first, gap.last)] = job_ids
        metrics.BACKFILLS_OUTSTANDING.set(len(self.outstanding))
        return jobs

    async def _jobs_for(self, dataset: DatasetId, gap: Gap) -> list[str]:
        """The jobs filling ``gap``: those outstanding or active, and a request for the rest."""
        if (str(dataset), gap.first) in self.unfillable:
            return []
        ours = [
            job
            for job in self.outstanding.values()
            if job.dataset == str(dataset) and job.start < gap.fill_end and gap.fill_start < job.end
        ]
        if covers(gap, ((job.start, job.end) for job in ours)):
            return [job.job_id for job in ours]
        active = await self.metadata.find_overlapping_jobs(dataset, gap.fill_start, gap.fill_end)
        if covers(gap, ((job.range_start, job.range_end) for job in active)):
            metrics.BACKFILL_REQUESTS.labels("existing").inc()
            return [
                self._track(j.id, j.dataset_id, (j.range_start, j.range_end), gap) for j in active
            ]
        if len(self.outstanding) >= self.max_jobs:
            return [job.job_id for job in ours]
        spans = {j.id: (j.range_start, j.range_end) for j in active}
        spans.update((job.job_id, (job.start, job.end)) for job in ours)
        return await self._send(dataset, gap, spans)

    def _track(self, job_id: str, dataset: str, span: tuple[int, int], gap: Gap) -> str:
        job = Job(job_id, dataset, span[0], span[1], gap.first, time.monotonic())
        self.outstanding[job_id] = job
        return job_id

    async def _send(
        self, dataset: DatasetId, gap: Gap, spans: dict[str, tuple[int, int]]
    ) -> list[str]:
        """Request ``gap`` under a request id of its own, followed into the backfiller."""
        with tracing.new_request("auditor backfill request", dataset=str(dataset)):
            return await self._requested(dataset, gap, spans)

    async def _requested(
        self, dataset: DatasetId, gap: Gap, spans: dict[str, tuple[int, int]]
    ) -> list[str]:
        """Request ``gap``; ``spans`` holds the ranges of jobs already read, not read again."""
        request = BackfillRequest.for_dataset(dataset, gap.fill_start, gap.fill_end, origin=ORIGIN)
        try:
            raw = await self._request(self.subject, request.encode(), self.timeout)
            reply = decode_reply(raw, BackfillReply.decode)
        except (BusError, ParseError) as exc:
            metrics.BACKFILL_REQUESTS.labels("failed").inc()
            log.warning("backfill request for %s failed: %s", dataset, exc)
            return []
        if isinstance(reply, ErrorReply):
            metrics.BACKFILL_REQUESTS.labels("failed").inc()
            log.warning("backfill of %s refused: %s: %s", dataset, reply.code, reply.message)
            return []
        metrics.BACKFILL_REQUESTS.labels("requested").inc()
        job_ids = reply.covering_job_ids
        log.info(
            "backfill requested",
            extra={
                "dataset": str(dataset),
                "job_id": reply.job_id,
                "job_ids": job_ids,
                "start": gap.fill_start,
                "end": gap.fill_end,
                "gap_seconds": gap.seconds,
            },
        )
        for job_id in job_ids:
            span = spans.get(job_id) or await self._span(job_id, gap)
            self._track(job_id, str(dataset), span, gap)
        return job_ids

    async def _span(self, job_id: str, gap: Gap) -> tuple[int, int]:
        """The job's range, read from its row; the gap's until the row is readable."""
        try:
            row = await self.metadata.get_job(job_id)
        except StoreError as exc:
            log.warning("backfill job %s not readable yet: %s", job_id, exc)
            row = None
        return (gap.fill_start, gap.fill_end) if row is None else (row.range_start, row.range_end)

    def finished(self, event: BackfillEvent) -> Finished | None:
        """The outstanding job an event reports finished, now forgotten; else None."""
        if not event.is_final:
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


def covers(gap: Gap, ranges: Iterable[tuple[int, int]]) -> bool:
    """Whether ``ranges`` (each ``[start, end)``) together cover the gap's fill range."""
    position = gap.fill_start
    for start, end in sorted(ranges):
        if start > position:
            return False
        position = max(position, end)
        if position >= gap.fill_end:
            return True
    return False


def annotate(report: DatasetReport, jobs: dict[tuple[int, int], list[str]]) -> DatasetReport:
    """The report with each gap finding naming the backfill jobs that fill it.

    ``backfill_job_id`` is the first of them, ``backfill_job_ids`` all, in range order.
    """
    if not jobs:
        return report
    checks = []
    for result in report.checks:
        if result.check == GAPS:
            findings = [
                msgspec.structs.replace(
                    f, details={**f.details, "backfill_job_id": ids[0], "backfill_job_ids": ids}
                )
                if (ids := jobs.get((f.range_start or 0, f.range_end or 0)))
                else f
                for f in result.findings
            ]
            result = CheckResult(result.check, findings, result.total)
        checks.append(result)
    return msgspec.structs.replace(report, checks=checks)
