"""Claims backfill jobs while this process has a free slot, and runs each to its end.

A claim is one conditional UPDATE in the metadata store, so of several replicas exactly
one gets a job. Idle workers sleep until woken (a job was created, a slot freed) or the
poll interval passes, which is how a job whose worker died is found and resumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from petrosa_backfiller import metrics
from petrosa_backfiller.jobs import JobContext, JobRun
from petrosa_core import tracing
from petrosa_core.errors import StoreError
from petrosa_core.metadata import BackfillJob

log = logging.getLogger(__name__)


# Jobs whose request's trace context is remembered until this process runs them; a job
# run elsewhere (another replica claimed it) or much later starts a trace of its own.
TRACED_JOBS = 1024


class JobTraces:
    """The trace context and request id each job was requested in, until it runs here."""

    def __init__(self, size: int = TRACED_JOBS) -> None:
        self._size = size
        self._carriers: OrderedDict[str, dict[str, str]] = OrderedDict()

    def keep(self, job_id: str) -> None:
        self._carriers[job_id] = tracing.carried()
        while len(self._carriers) > self._size:
            self._carriers.popitem(last=False)

    def take(self, job_id: str) -> dict[str, str] | None:
        return self._carriers.pop(job_id, None)


class JobScheduler:
    """Runs up to ``max_jobs`` jobs at a time for this process."""

    def __init__(self, ctx: JobContext, *, max_jobs: int, poll_interval: float) -> None:
        self.ctx = ctx
        self.traces = JobTraces()
        self.max_jobs = max_jobs
        self.poll_interval = poll_interval
        self.peak_running = 0
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    @property
    def running(self) -> int:
        return len(self._running)

    def wake(self) -> None:
        """Look for claimable jobs now rather than at the next poll."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event, *, burst: bool = False) -> None:
        """Claim and run jobs until ``stopping``; with ``burst``, until none is left.

        On ``stopping`` each running job stops at once and hands its lease back.
        """
        async with asyncio.TaskGroup() as group:
            while not stopping.is_set():
                self._wake.clear()
                job = await self._claim() if self.running < self.max_jobs else None
                if job is not None:
                    self._start(group, job, stopping)
                elif burst and not self.running:
                    return
                else:
                    await _wait_any(self._wake, stopping, within=self.poll_interval)

    async def _claim(self) -> BackfillJob | None:
        try:
            return await self.ctx.metadata.claim_next(self.ctx.worker_id, self.ctx.lease_seconds)
        except StoreError as exc:
            log.warning("cannot claim backfill jobs: %s", exc)
            return None

    def _start(self, group: asyncio.TaskGroup, job: BackfillJob, stopping: asyncio.Event) -> None:
        task = group.create_task(self._run(job, stopping), name=f"backfill-job-{job.id}")
        self._running.add(task)
        self.peak_running = max(self.peak_running, self.running)
        metrics.JOBS_RUNNING.set(self.running)
        log.info(
            "backfill job claimed",
            extra={"job_id": job.id, "dataset_id": job.dataset_id, "attempt": job.attempts},
        )

    async def _run(self, job: BackfillJob, stopping: asyncio.Event) -> None:
        """Run one job; its failure is logged here so the other jobs go on."""
        try:
            with tracing.resumed(self.traces.take(job.id), "backfill job", job_id=job.id):
                await JobRun(self.ctx, job).run(stopping)
        except Exception:
            log.exception("backfill job stopped by an error", extra={"job_id": job.id})
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._running.discard(task)
            metrics.JOBS_RUNNING.set(self.running)
            self._wake.set()


async def _wait_any(*events: asyncio.Event, within: float) -> None:
    """Until one of ``events`` is set or ``within`` seconds pass."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.wait(waiters)
