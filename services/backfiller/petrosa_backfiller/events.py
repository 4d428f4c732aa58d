"""Job events on ``petrosa.backfill.events``, and the public JSON shape of a job."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import msgspec
from nats.aio.client import Client

from petrosa_core.bus import as_bus_error
from petrosa_core.errors import BusError
from petrosa_core.metadata import BackfillJob

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode


def job_view(job: BackfillJob) -> dict[str, Any]:
    """A job as replies, events and the CLI show it; times are epoch ms."""
    return {
        "job_id": job.id,
        "dataset_id": job.dataset_id,
        "symbol": job.symbol,
        "data_type": job.data_type,
        "interval": job.interval,
        "status": job.status.value,
        "range_start": job.range_start,
        "range_end": job.range_end,
        "records_written": job.records_written,
        "pages": job.pages,
        "weight_used": job.weight_used,
        "progress": round(job.progress, 2),
        "checkpoint": job.checkpoint,
        "cancel_requested": job.cancel_requested,
        "error_code": job.error_code,
        "error_message": job.error_message,
        "attempts": job.attempts,
        "worker": job.claimed_by,
        "origin": job.origin,
        "created_time": job.created_at,
        "started_time": job.started_at,
        "finished_time": job.finished_at,
    }


class Events(Protocol):
    async def publish(self, job: BackfillJob, *, claimable: bool = False) -> None:
        """Report ``job`` as it stands; ``claimable`` tells idle workers to look for work."""
        ...


class NatsEvents:
    """Publishes job events on one subject; a failed publish is logged, never fatal."""

    def __init__(self, client: Client, subject: str) -> None:
        self._client = client
        self._subject = subject

    async def publish(self, job: BackfillJob, *, claimable: bool = False) -> None:
        event = {**job_view(job), "claimable": claimable, "timestamp": time.time_ns() // 10**6}
        try:
            with as_bus_error(f"publish backfill event of job {job.id}"):
                await self._client.publish(self._subject, _encode(event))
        except BusError as exc:
            # Events are progress reports: the job row stays the record of truth.
            log.warning("backfill event not published: %s", exc, extra={"job_id": job.id})


class NoEvents:
    """Events for a backfill run without NATS (benchmarks, burst runs)."""

    async def publish(self, job: BackfillJob, *, claimable: bool = False) -> None:
        return None
