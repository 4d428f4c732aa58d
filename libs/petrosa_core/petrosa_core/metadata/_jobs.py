"""Backfill jobs: creation, atomic claims with leases, fenced progress, and cancellation.

A claim is one conditional UPDATE (compare-and-set on status and lease), so of several
replicas racing for a job exactly one sees a matched row. A worker holds a job while its
id is in ``claimed_by`` and the job is running; every progress write checks that, so a
worker whose job was taken over after its lease expired can no longer touch it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

import msgspec
import sqlalchemy as sa

from petrosa_core.errors import ValidationError
from petrosa_core.metadata._base import SqlBase, check_text
from petrosa_core.metadata._records import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    BackfillJob,
    JobStatus,
    JsonObject,
)
from petrosa_core.metadata._tables import EpochMs
from petrosa_core.metadata._tables import backfill_jobs as jobs
from petrosa_core.models import DatasetId

# How many candidates claim_next tries per call; losers of a race move on to the next.
_CLAIM_CANDIDATES = 16


def _lease_ms(lease_seconds: float) -> int:
    if lease_seconds <= 0:
        raise ValidationError("bad_lease", "lease_seconds must be positive")
    return int(lease_seconds * 1000)


def _claimable(now: int) -> sa.ColumnElement[bool]:
    """Pending, or running under a lease that expired (its worker is presumed dead)."""
    return sa.and_(
        jobs.c.cancel_requested.is_(False),
        sa.or_(
            jobs.c.status == JobStatus.PENDING.value,
            sa.and_(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_expires_at < now),
        ),
    )


def _overlapping(dataset_id: DatasetId | str, start: int, end: int) -> sa.Select[Any]:
    """Active jobs of the dataset whose ``[range_start, range_end)`` meets ``[start, end)``."""
    return sa.select(jobs).where(
        jobs.c.dataset_id == str(dataset_id),
        jobs.c.status.in_([s.value for s in ACTIVE_STATUSES]),
        jobs.c.range_start < end,
        jobs.c.range_end > start,
    )


class JobOps(SqlBase):
    async def create_job(
        self,
        dataset_id: DatasetId,
        *,
        data_type: str,
        start: int,
        end: int,
        origin: str = "api",
    ) -> BackfillJob:
        """Queue a pending backfill of ``[start, end)``."""
        if start >= end:
            raise ValidationError("bad_range", f"start {start} is not before end {end}")
        check_text("data_type", data_type, 32)
        check_text("origin", origin, 32)
        now = self._clock()
        job = BackfillJob(
            id=uuid.uuid4().hex,
            dataset_id=str(dataset_id),
            symbol=dataset_id.symbol,
            data_type=data_type,
            interval=dataset_id.interval,
            range_start=start,
            range_end=end,
            origin=origin,
            created_at=now,
            updated_at=now,
        )
        async with self._write() as conn:
            await conn.execute(sa.insert(jobs).values(msgspec.structs.asdict(job)))
        return job

    async def get_job(self, job_id: str) -> BackfillJob | None:
        return await self._one(BackfillJob, sa.select(jobs).where(jobs.c.id == job_id))

    async def list_jobs(
        self,
        status: JobStatus | Collection[JobStatus] | None = None,
        symbol: str | None = None,
        data_type: str | None = None,
        limit: int = 100,
    ) -> list[BackfillJob]:
        """Jobs, newest first; ``status`` may be one status or several."""
        query = sa.select(jobs)
        if isinstance(status, JobStatus):
            query = query.where(jobs.c.status == status.value)
        elif status is not None:
            query = query.where(jobs.c.status.in_([s.value for s in status]))
        if symbol is not None:
            query = query.where(jobs.c.symbol == symbol.upper())
        if data_type is not None:
            query = query.where(jobs.c.data_type == data_type)
        order = (jobs.c.created_at.desc(), jobs.c.id)
        return await self._all(BackfillJob, query.order_by(*order).limit(limit))

    async def find_overlapping_job(
        self, dataset_id: DatasetId | str, start: int, end: int
    ) -> BackfillJob | None:
        """A pending or running job of this dataset whose range meets ``[start, end)``."""
        query = _overlapping(dataset_id, start, end).order_by(jobs.c.created_at)
        return await self._one(BackfillJob, query)

    async def find_overlapping_jobs(
        self, dataset_id: DatasetId | str, start: int, end: int
    ) -> list[BackfillJob]:
        """Every pending or running job of this dataset whose range meets ``[start, end)``,
        in the order of their ranges."""
        order = (jobs.c.range_start, jobs.c.range_end, jobs.c.created_at, jobs.c.id)
        query = _overlapping(dataset_id, start, end).order_by(*order)
        return await self._all(BackfillJob, query)

    async def claim_job(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        """Take a pending job, or a running one whose lease expired; True for the one winner."""
        check_text("worker_id", worker_id, 128)
        now = self._clock()
        claim = (
            sa.update(jobs)
            .where(jobs.c.id == job_id, _claimable(now))
            .values(
                status=JobStatus.RUNNING.value,
                claimed_by=worker_id,
                attempts=jobs.c.attempts + 1,
                lease_expires_at=now + _lease_ms(lease_seconds),
                heartbeat_at=now,
                started_at=sa.func.coalesce(jobs.c.started_at, sa.literal(now, EpochMs())),
                updated_at=now,
            )
        )
        async with self._write() as conn:
            result = await conn.execute(claim)
        return result.rowcount == 1

    async def claim_next(self, worker_id: str, lease_seconds: float) -> BackfillJob | None:
        """Claim the oldest claimable job (resuming an abandoned one first); None if none."""
        await self._cancel_abandoned()
        now = self._clock()
        abandoned_first = sa.case((jobs.c.status == JobStatus.RUNNING.value, 0), else_=1)
        query = (
            sa.select(jobs.c.id)
            .where(_claimable(now))
            .order_by(abandoned_first, jobs.c.created_at, jobs.c.id)
            .limit(_CLAIM_CANDIDATES)
        )
        async with self._read() as conn:
            candidates = list((await conn.execute(query)).scalars())
        for job_id in candidates:
            if await self.claim_job(job_id, worker_id, lease_seconds):
                return await self.get_job(job_id)
        return None

    async def heartbeat(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        """Extend this worker's lease; False means stop: the job was lost or cancelled."""
        now = self._clock()
        return await self._fenced_update(
            job_id, worker_id, lease_expires_at=now + _lease_ms(lease_seconds), heartbeat_at=now
        )

    async def checkpoint(
        self,
        job_id: str,
        worker_id: str,
        *,
        position: int,
        records_written: int,
        pages: int,
        weight_used: int,
        progress: float,
        details: JsonObject | None = None,
    ) -> bool:
        """Record absolute progress and the resume position; False means stop (see heartbeat)."""
        return await self._fenced_update(
            job_id,
            worker_id,
            checkpoint=position,
            checkpoint_details=details,
            records_written=records_written,
            pages=pages,
            weight_used=weight_used,
            progress=max(0.0, min(100.0, progress)),
        )

    async def finish_job(
        self,
        job_id: str,
        worker_id: str,
        status: JobStatus,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> bool:
        """End a job this worker holds; False if it no longer holds it."""
        if status not in FINAL_STATUSES:
            raise ValidationError("bad_job_status", f"{status} is not a final status")
        now = self._clock()
        values: dict[str, object] = {
            "status": status.value,
            "error_code": error_code,
            "error_message": error_message,
            "finished_at": now,
            "updated_at": now,
            "lease_expires_at": None,
        }
        if status is JobStatus.COMPLETED:
            values["progress"] = 100.0
        async with self._write() as conn:
            result = await conn.execute(self._fence(job_id, worker_id).values(values))
        return result.rowcount == 1

    async def request_cancel(self, job_id: str) -> BackfillJob | None:
        """Cancel a pending job at once, or ask the worker of a running one to stop."""
        now = self._clock()
        async with self._write() as conn:
            await conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == JobStatus.PENDING.value)
                .values(status=JobStatus.CANCELLED.value, finished_at=now, updated_at=now)
            )
            await conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
                .values(cancel_requested=True, updated_at=now)
            )
        return await self.get_job(job_id)

    def _fence(self, job_id: str, worker_id: str) -> sa.Update:
        return sa.update(jobs).where(
            jobs.c.id == job_id,
            jobs.c.claimed_by == worker_id,
            jobs.c.status == JobStatus.RUNNING.value,
        )

    async def _fenced_update(self, job_id: str, worker_id: str, **values: object) -> bool:
        """Write while this worker holds the job; True while it should go on working."""
        async with self._write() as conn:
            result = await conn.execute(
                self._fence(job_id, worker_id).values(updated_at=self._clock(), **values)
            )
            if result.rowcount != 1:
                return False
            cancelled = await conn.scalar(
                sa.select(jobs.c.cancel_requested).where(jobs.c.id == job_id)
            )
        return not cancelled

    async def _cancel_abandoned(self) -> None:
        """Close running jobs whose cancel was asked for but whose worker died."""
        now = self._clock()
        async with self._write() as conn:
            await conn.execute(
                sa.update(jobs)
                .where(
                    jobs.c.status == JobStatus.RUNNING.value,
                    jobs.c.cancel_requested.is_(True),
                    jobs.c.lease_expires_at < now,
                )
                .values(
                    status=JobStatus.CANCELLED.value,
                    finished_at=now,
                    updated_at=now,
                    lease_expires_at=None,
                )
            )
