"""Job events on ``petrosa.backfill.events``: a ``BackfillEvent`` for every change of a job."""

from __future__ import annotations

import logging
from typing import Protocol

from petrosa_core.bus import Bus
from petrosa_core.contracts import BackfillEvent
from petrosa_core.errors import BusError
from petrosa_core.metadata import BackfillJob
from petrosa_core.times import now_ms

log = logging.getLogger(__name__)


class Events(Protocol):
    async def publish(self, job: BackfillJob, *, claimable: bool = False) -> None:
        """Report ``job`` as it stands; ``claimable`` tells idle workers to look for work."""
        ...


class NatsEvents:
    """Publishes job events on one subject; a failed publish is logged, never fatal."""

    def __init__(self, bus: Bus, subject: str) -> None:
        self._bus = bus
        self._subject = subject

    async def publish(self, job: BackfillJob, *, claimable: bool = False) -> None:
        event = BackfillEvent.of_job(job, claimable=claimable, timestamp=now_ms())
        try:
            await self._bus.publish(self._subject, event.encode())
        except BusError as exc:
            # Events are progress reports: the job row stays the record of truth.
            log.warning("backfill event not published: %s", exc, extra={"job_id": job.id})


class NoEvents:
    """Events for a backfill run without NATS (benchmarks, burst runs)."""

    async def publish(self, job: BackfillJob, *, claimable: bool = False) -> None:
        return None
