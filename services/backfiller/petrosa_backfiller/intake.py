"""Backfill, cancel and status requests: checked, answered at once, never run twice.

Requests and replies are the core's contract types: a ``BackfillReply``, a ``JobView`` or
an ``ErrorReply``, with a ``reference`` to the log line when the failure is not the
caller's; the exception itself never leaves the process.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from petrosa_backfiller import metrics
from petrosa_backfiller.events import Events
from petrosa_backfiller.scheduler import JobTraces
from petrosa_core.bus import Message
from petrosa_core.contracts import (
    BackfillReply,
    BackfillRequest,
    BackfillTerms,
    ErrorCode,
    ErrorReply,
    JobRef,
    JobView,
)
from petrosa_core.errors import BusError, StoreError, ValidationError
from petrosa_core.metadata import BackfillJob, JobStatus, MetadataStore
from petrosa_core.models import DatasetId
from petrosa_core.times import Clock, now_ms

log = logging.getLogger(__name__)

Reply = BackfillReply | JobView | ErrorReply
Handler = Callable[[bytes], Awaitable[Reply]]


class Lock(Protocol):
    def hold(self, dataset: DatasetId) -> AbstractAsyncContextManager[None]:
        """Hold ``dataset`` against every other creator of jobs."""
        ...


class Intake:
    """Turns requests into jobs; time already covered by active jobs is left to them."""

    def __init__(
        self,
        metadata: MetadataStore,
        events: Events,
        lock: Lock,
        *,
        on_created: Callable[[], None],
        traces: JobTraces | None = None,
        clock: Clock = now_ms,
    ) -> None:
        self._metadata = metadata
        self._events = events
        self._lock = lock
        self._on_created = on_created
        self._traces = traces
        self._clock = clock

    async def submit(self, payload: bytes) -> BackfillReply:
        """Create a job for each part of the range no active job covers.

        The reply is the first new job, or the active job when there is none, with
        ``job_ids``: every job that together covers the range, in range order.
        """
        request = BackfillRequest.decode(payload).checked(self._clock())
        async with self._lock.hold(request.dataset):
            active = await self._metadata.find_overlapping_jobs(
                request.dataset, request.start, request.end
            )
            gaps = uncovered(request.start, request.end, active)
            created = [await self._create(request, start, end) for start, end in gaps]
        job_ids = [j.id for j in sorted([*active, *created], key=lambda j: j.range_start)]
        if not created:
            metrics.REQUESTS.labels("deduplicated").inc()
            return BackfillReply.of(active[0], job_ids)
        metrics.REQUESTS.labels("created").inc()
        self._on_created()
        return BackfillReply.of(created[0], job_ids, [j.id for j in created])

    async def _create(self, request: BackfillTerms, start: int, end: int) -> BackfillJob:
        job = await self._metadata.create_job(
            request.dataset,
            data_type=request.data_type.value,
            start=start,
            end=end,
            origin=request.origin,
        )
        # Published before any worker can report the job running.
        await self._events.publish(job, claimable=True)
        log.info("backfill job created", extra={"job_id": job.id, "dataset_id": job.dataset_id})
        if self._traces is not None:
            self._traces.keep(job.id)
        return job

    async def cancel(self, payload: bytes) -> JobView:
        """Cancel a pending job at once, or ask the worker of a running one to stop."""
        job = await self._metadata.request_cancel(JobRef.decode(payload).job_id)
        if job is None:
            raise ValidationError("job_not_found", "no backfill job has this id")
        if job.status is JobStatus.CANCELLED and job.claimed_by is None:
            await self._events.publish(job)
        return JobView.of(job)

    async def status(self, payload: bytes) -> JobView:
        job = await self._metadata.get_job(JobRef.decode(payload).job_id)
        if job is None:
            raise ValidationError("job_not_found", "no backfill job has this id")
        return JobView.of(job)


def uncovered(start: int, end: int, jobs: Iterable[BackfillJob]) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` that the ranges of ``jobs`` (each meeting it) leave."""
    gaps: list[tuple[int, int]] = []
    position = start
    for job in sorted(jobs, key=lambda j: j.range_start):
        if job.range_start > position:
            gaps.append((position, job.range_start))
        position = max(position, job.range_end)
        if position >= end:
            return gaps
    return [*gaps, (position, end)]


async def answer(handler: Handler, payload: bytes) -> Reply:
    """``handler``'s reply, or the error object that says what went wrong.

    Failures that are not the caller's are answered in general terms with a reference;
    the log line under that reference holds the exception.
    """
    try:
        return await handler(payload)
    except ValidationError as exc:
        metrics.REQUESTS.labels("rejected").inc()
        return ErrorReply.refusing(exc)
    except BusError:
        reference = _logged("backfill request failed on NATS", logging.WARNING)
        message = f"the backfiller is busy; try again (reference {reference})"
        return ErrorReply.of(ErrorCode.BUSY, message, reference)
    except StoreError:
        reference = _logged("backfill request failed on the metadata store", logging.WARNING)
        message = f"the job store did not answer; try again later (reference {reference})"
        return ErrorReply.of(ErrorCode.STORE_UNAVAILABLE, message, reference)
    except Exception:
        reference = _logged("backfill request failed", logging.ERROR)
        message = f"the backfiller failed on this request (reference {reference})"
        return ErrorReply.of(ErrorCode.INTERNAL_ERROR, message, reference)


def _logged(message: str, level: int) -> str:
    """Log the exception being handled under a new reference, and return the reference."""
    reference = uuid.uuid4().hex[:12]
    log.log(level, message, exc_info=True, extra={"reference": reference})
    return reference


def responder(handler: Handler) -> Callable[[Message], Awaitable[None]]:
    """A subscription handler that answers each request with ``handler``'s reply."""

    async def respond(msg: Message) -> None:
        reply = await answer(handler, msg.data)
        try:
            await msg.respond(reply.encode())
        except BusError as exc:
            log.warning("backfill reply not sent: %s", exc)

    return respond
