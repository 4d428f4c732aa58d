"""The analytics service: a worker on every replica, the schedule on the leader only.

Requests for on-demand metrics are answered by any replica (a queue group). With leader
election off, this one process schedules too: one replica does everything on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from petrosa_analytics.engine import Engine
from petrosa_analytics.requests import answer
from petrosa_analytics.scheduler import Scheduler
from petrosa_analytics.worker import Worker
from petrosa_core.bus import Bus
from petrosa_core.errors import BusError
from petrosa_core.leader import LeaderElector

log = logging.getLogger(__name__)


class AnalyticsService:
    """Runs the worker, the request responder and, while leading, the schedule."""

    def __init__(
        self,
        engine: Engine,
        worker: Worker,
        scheduler: Scheduler,
        bus: Bus,
        *,
        request_subject: str,
        queue_group: str,
        request_backlog: int,
        elector: LeaderElector | None = None,
    ) -> None:
        self.engine = engine
        self.worker = worker
        self.scheduler = scheduler
        self.bus = bus
        self.request_subject = request_subject
        self.queue_group = queue_group
        self.request_backlog = request_backlog
        self.elector = elector

    async def run(self, stopping: asyncio.Event) -> None:
        """Until ``stopping``: the worker finishes the item in hand, the rest stop at once."""
        async with asyncio.TaskGroup() as tg:
            if self.elector is not None:
                lease = tg.create_task(
                    self.elector.run(self.scheduler.lead), name="analytics-lease"
                )
            else:
                lease = tg.create_task(self.scheduler.lead(0), name="analytics-schedule")
            requests = tg.create_task(self.serve_requests(), name="analytics-requests")
            tg.create_task(self.worker.run(stopping), name="analytics-worker")
            await stopping.wait()
            lease.cancel()
            requests.cancel()

    async def serve_requests(self) -> None:
        sub = await self.bus.subscribe(
            self.request_subject, queue=self.queue_group, backlog=self.request_backlog
        )
        try:
            async for msg in sub:
                reply = await answer(self.engine, self.engine.market, msg.data)
                try:
                    await msg.respond(reply)
                except BusError as exc:
                    log.warning("cannot answer an analytics request: %s", exc)
        finally:
            with contextlib.suppress(BusError):
                await sub.unsubscribe()
