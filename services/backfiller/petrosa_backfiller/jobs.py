"""One claimed backfill job run to its end: fetch a page, write it, checkpoint it, report it.

A page is written to the market store before its checkpoint, so a job resumed from its
last checkpoint (after a crash or a takeover) fetches at most the page in flight again,
and the idempotent write makes that harmless. Every checkpoint is fenced: once the job
is cancelled or taken over, the run stops at its next page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from msgspec.structs import replace

from petrosa_backfiller import metrics
from petrosa_backfiller.binance import BinanceClient, RestPage
from petrosa_backfiller.events import Events
from petrosa_core.contracts import DataType
from petrosa_core.errors import ExchangeError, ParseError, StoreError
from petrosa_core.market import MarketStore
from petrosa_core.metadata import BackfillJob, JobStatus, MetadataStore
from petrosa_core.models import Candle, DatasetId, FundingRate, Trade

log = logging.getLogger(__name__)

AnyPage = RestPage[Candle] | RestPage[FundingRate] | RestPage[Trade]
# A lease this short has lapsed by the time anyone reads it: the job is free to claim.
RELEASE_LEASE_SECONDS = 0.001
PROCESS = "backfiller"
# Lineage names where a job's records came from.
SOURCE: dict[DataType, str] = {
    DataType.CANDLES: "binance:/fapi/v1/klines",
    DataType.FUNDING_RATES: "binance:/fapi/v1/fundingRate",
    DataType.AGG_TRADES: "binance:/fapi/v1/aggTrades",
}


@dataclass(frozen=True)
class JobContext:
    """What every job run of this process shares."""

    metadata: MetadataStore
    market: MarketStore
    client: BinanceClient
    events: Events
    worker_id: str
    lease_seconds: float


@dataclass(frozen=True)
class Failure:
    """Why a job failed: Binance's code (e.g. ``-1121``) or ours, and a message."""

    code: str
    message: str


class Halted:
    """The job's row said stop: it was cancelled or another worker took it over."""


Outcome = JobStatus | Failure | Halted


class JobRun:
    """Runs one job this worker has claimed."""

    def __init__(self, ctx: JobContext, job: BackfillJob) -> None:
        self.ctx = ctx
        self.job = job
        self.dataset = DatasetId.parse(job.dataset_id)
        self.data_type = DataType(job.data_type)

    async def run(self, stopping: asyncio.Event) -> JobStatus | None:
        """Run until the job ends (its final status) or is lost or the process stops (None)."""
        await self.ctx.events.publish(self.job)
        pump = asyncio.create_task(self._pump(), name=f"backfill-pages-{self.job.id}")
        keeper = asyncio.create_task(self._keep_lease(), name=f"backfill-lease-{self.job.id}")
        stop = asyncio.create_task(stopping.wait(), name=f"backfill-stop-{self.job.id}")
        tasks: set[asyncio.Task[Any]] = {pump, keeper, stop}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        if pump.done() and not pump.cancelled():
            return await self._conclude(_outcome_of(pump))
        if stop.done() and not stop.cancelled():
            await self._release()
            return None
        return await self._conclude(Halted())

    async def _pump(self) -> Outcome:
        """Fetch, write and checkpoint page after page; how the walk ended."""
        try:
            async for page in self._pages():
                if page.records:
                    await self._write(page)
                if not await self._checkpoint(page):
                    return Halted()
        except ExchangeError as exc:
            # 4xx fail at once; anything else got here only after every retry was spent.
            return Failure(_failure_code(exc), exc.message)
        except ParseError as exc:
            return Failure(exc.reason, str(exc))
        except _WriteFailed as exc:
            return Failure("store_error", str(exc))
        return JobStatus.COMPLETED

    def _pages(self) -> AsyncIterator[AnyPage]:
        """The walk from the checkpoint, or from the start of the range."""
        job, client = self.job, self.ctx.client
        by = (job.checkpoint_details or {}).get("by", "time")
        if job.checkpoint is not None and by == "id":
            return client.agg_trades_from(job.symbol, job.checkpoint, job.range_end)
        start = job.range_start if job.checkpoint is None else job.checkpoint
        if self.data_type is DataType.CANDLES:
            assert job.interval is not None  # every candles job has one (DatasetId.of)
            return client.klines(job.symbol, job.interval, start, job.range_end)
        if self.data_type is DataType.FUNDING_RATES:
            return client.funding_rates(job.symbol, start, job.range_end)
        return client.agg_trades(job.symbol, start, job.range_end)

    async def _write(self, page: AnyPage) -> None:
        try:
            await self.ctx.market.write(self.dataset, page.records)
        except StoreError as exc:
            raise _WriteFailed(str(exc)) from exc

    async def _checkpoint(self, page: AnyPage) -> bool:
        """Record the page as done; False when the job must stop (cancelled or taken over)."""
        job = self._advanced(page)
        keep = await self.ctx.metadata.checkpoint(
            job.id,
            self.ctx.worker_id,
            position=job.checkpoint if job.checkpoint is not None else job.range_end,
            records_written=job.records_written,
            pages=job.pages,
            weight_used=job.weight_used,
            progress=job.progress,
            details=job.checkpoint_details,
        )
        if not keep:
            return False
        self.job = job
        metrics.PAGES.labels(self.data_type.value).inc()
        metrics.RECORDS.labels(self.data_type.value).inc(len(page.records))
        await self.ctx.events.publish(job)
        return True

    def _advanced(self, page: AnyPage) -> BackfillJob:
        """The job as it stands once ``page`` is written."""
        job = self.job
        resume = page.resume
        span = job.range_end - job.range_start
        return replace(
            job,
            checkpoint=resume.at if resume else job.range_end,
            checkpoint_details={"by": resume.by if resume else "time"},
            records_written=job.records_written + len(page.records),
            pages=job.pages + 1,
            weight_used=job.weight_used + page.weight,
            progress=max(0.0, min(100.0, 100.0 * (self._reached(page) - job.range_start) / span)),
        )

    def _reached(self, page: AnyPage) -> float:
        """The time up to which the range is done once ``page`` is written."""
        if page.resume is None:
            return self.job.range_end
        if page.resume.by == "time":
            return page.resume.at
        if page.records:
            return page.records[-1].time + 1
        return self.job.range_start + (self.job.range_end - self.job.range_start) * (
            self.job.progress / 100
        )

    async def _keep_lease(self) -> None:
        """Renew the lease until a renewal says stop (cancelled or taken over)."""
        interval = self.ctx.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.ctx.metadata.heartbeat(
                    self.job.id, self.ctx.worker_id, self.ctx.lease_seconds
                ):
                    return
            except StoreError as exc:
                # The fenced checkpoints keep the job safe if the lease lapses meanwhile.
                log.warning("lease renewal failed: %s", exc, extra={"job_id": self.job.id})

    async def _conclude(self, outcome: Outcome) -> JobStatus | None:
        if isinstance(outcome, Halted):
            return await self._halt()
        if isinstance(outcome, Failure):
            return await self._finish(JobStatus.FAILED, outcome)
        await self._record_lineage()
        return await self._finish(JobStatus.COMPLETED, None)

    async def _finish(self, status: JobStatus, failure: Failure | None) -> JobStatus | None:
        code, message = (failure.code, failure.message[:1000]) if failure else (None, None)
        held = await self.ctx.metadata.finish_job(
            self.job.id, self.ctx.worker_id, status, error_code=code, error_message=message
        )
        if not held:
            log.warning("job was taken over before it could end", extra={"job_id": self.job.id})
            return None
        final = await self.ctx.metadata.get_job(self.job.id)
        self.job = final or replace(self.job, status=status, error_code=code, error_message=message)
        metrics.JOBS_FINISHED.labels(status.value).inc()
        log.info("backfill job %s %s", self.job.id, status.value, extra={"error_code": code})
        await self.ctx.events.publish(self.job)
        return status

    async def _halt(self) -> JobStatus | None:
        """Stop for a cancel (end the job as cancelled) or a takeover (leave it alone)."""
        current = await self.ctx.metadata.get_job(self.job.id)
        mine = current is not None and current.claimed_by == self.ctx.worker_id
        if mine and current is not None and current.cancel_requested:
            return await self._finish(JobStatus.CANCELLED, None)
        log.warning("job was taken over by another worker", extra={"job_id": self.job.id})
        return None

    async def _release(self) -> None:
        """Hand the job back on shutdown: its lease lapses now, so any replica resumes it."""
        try:
            await self.ctx.metadata.heartbeat(
                self.job.id, self.ctx.worker_id, RELEASE_LEASE_SECONDS
            )
        except StoreError as exc:
            log.warning(
                "job not released; its lease lapses: %s", exc, extra={"job_id": self.job.id}
            )
            return
        await self.ctx.events.publish(self.job, claimable=True)

    async def _record_lineage(self) -> None:
        source = SOURCE[self.data_type]
        try:
            await self.ctx.metadata.register_dataset(self.dataset, source=source)
            await self.ctx.metadata.add_lineage(
                self.dataset,
                source=source,
                process=PROCESS,
                job_id=self.job.id,
                start=self.job.range_start,
                end=self.job.range_end,
                record_count=self.job.records_written,
                details={"pages": self.job.pages, "weight_used": self.job.weight_used},
            )
        except StoreError as exc:
            log.warning("lineage not recorded: %s", exc, extra={"job_id": self.job.id})


def _outcome_of(pump: asyncio.Task[Outcome]) -> Outcome:
    """The pump's outcome; a crash fails the job, a metadata store failure abandons it."""
    exc = pump.exception()
    if exc is None:
        return pump.result()
    if isinstance(exc, StoreError):
        # Nothing can be recorded now; the lease lapses and a replica resumes the job.
        raise exc
    log.error("backfill job crashed", exc_info=exc)
    return Failure("internal_error", f"{type(exc).__name__}: {exc}")


class _WriteFailed(Exception):
    """The market store refused a page; kept apart from metadata store failures."""


def _failure_code(exc: ExchangeError) -> str:
    """Binance's own code (``-1121``), else what happened (``http_503``, no answer)."""
    if exc.code is not None:
        return str(exc.code)
    return "exchange_unavailable" if exc.status == 0 else f"http_{exc.status}"
