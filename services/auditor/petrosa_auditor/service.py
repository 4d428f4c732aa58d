"""The auditor's leader work: the schedule, on-demand audits over NATS, and repairs.

Everything runs inside one lease term (``work(token)`` of the ``LeaderElector``), so all
of it stops the moment leadership is lost; followers do nothing but stand by.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from petrosa_auditor import metrics
from petrosa_auditor.audit import Auditor, intervals_of
from petrosa_auditor.context import Scope
from petrosa_auditor.recorder import Recorder, Run
from petrosa_auditor.repair import AutoBackfill, Finished, annotate
from petrosa_auditor.report import DatasetReport
from petrosa_auditor.requests import answer_request
from petrosa_core.bus import Bus, Message, Subscription
from petrosa_core.contracts import AUDIT_QUEUE_GROUP, BackfillEvent
from petrosa_core.errors import BusError, LeadershipLost, ParseError, PetrosaError
from petrosa_core.leader import LeaderElector
from petrosa_core.models import DatasetId

log = logging.getLogger(__name__)

# Requests and events waiting for the leader's attention; more are dropped by NATS as a
# slow consumer, which the requester sees as a timeout.
REQUEST_BACKLOG = 64
EVENT_BACKLOG = 1024
# Datasets waiting for a re-audit after a repair; a full queue drops the re-audit and
# the next scheduled audit does the work.
REAUDIT_BACKLOG = 100
# A re-audit reads this far around a repaired range, so gaps at its edges are seen whole.
REAUDIT_MARGIN_MS = 3_600_000


class AuditorService:
    """Runs audits on a schedule and on request while this process leads."""

    def __init__(
        self,
        auditor: Auditor,
        recorder: Recorder,
        bus: Bus,
        *,
        interval: float,
        window: float,
        request_subject: str,
        events_subject: str,
        repair: AutoBackfill | None = None,
        elector: LeaderElector | None = None,
    ) -> None:
        self.auditor = auditor
        self.recorder = recorder
        self.bus = bus
        self.interval = interval
        self.window = window
        self.request_subject = request_subject
        self.events_subject = events_subject
        self.repair = repair
        self.elector = elector
        # Set while this process answers audit requests, i.e. while it leads.
        self.serving = asyncio.Event()
        self._lock = asyncio.Lock()
        self._reaudits: asyncio.Queue[tuple[DatasetId, Scope]] = asyncio.Queue(REAUDIT_BACKLOG)

    async def run(self, stopping: asyncio.Event) -> None:
        """Campaign (or, without election, lead) until ``stopping`` is set."""
        async with asyncio.TaskGroup() as tg:
            if self.elector is not None:
                main = tg.create_task(self.elector.run(self.lead), name="auditor-lease")
            else:
                main = tg.create_task(self.lead(0), name="auditor-work")
            await stopping.wait()
            main.cancel()

    async def lead(self, token: int) -> None:
        """One term's work: every loop of the leader, cancelled together when the term ends."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._schedule(token), name=f"audit-schedule-{token}")
            tg.create_task(self._serve_requests(token), name=f"audit-requests-{token}")
            if self.repair is not None:
                tg.create_task(self._watch_backfills(token), name=f"audit-repairs-{token}")
                tg.create_task(self._work_reaudits(token), name=f"audit-reaudits-{token}")

    async def audit_all(self, scope: Scope, token: int) -> list[DatasetReport]:
        """Audit every dataset; one that fails is logged and skipped."""
        reports = []
        datasets = await self.auditor.datasets()
        for dataset in datasets:
            report = await self.audit_one(dataset, scope, token, datasets)
            if report is not None:
                reports.append(report)
        return reports

    async def audit_one(
        self,
        dataset: DatasetId,
        scope: Scope,
        token: int,
        datasets: Sequence[DatasetId] | None = None,
    ) -> DatasetReport | None:
        """Audit, repair and record one dataset under this term's token; None if it failed."""
        async with self._lock:
            try:
                intervals = None if datasets is None else intervals_of(datasets, dataset.symbol)
                report = await self.auditor.audit(dataset, scope, intervals)
                self._require(token)
                if self.repair is not None:
                    report = annotate(report, await self.repair.repair(report))
                    self._require(token)
                await self.recorder.record(report, Run(token))
            except LeadershipLost:
                raise
            except PetrosaError as exc:
                metrics.AUDITS.labels("failed").inc()
                log.warning("audit of %s failed: %s", dataset, exc)
                return None
        _observe(report)
        return report

    def _require(self, token: int) -> None:
        """Nothing is written under a term that is over."""
        if self.elector is not None:
            self.elector.require(token)

    async def _schedule(self, token: int) -> None:
        while True:
            try:
                await self._scheduled_run(token)
            except LeadershipLost:
                raise
            except PetrosaError as exc:
                # The store or NATS is down: the next run tries again.
                log.warning("audit run failed: %s", exc)
            await asyncio.sleep(self.interval)

    async def _scheduled_run(self, token: int) -> None:
        started = self.auditor.clock()
        if self.repair is not None:
            await self._finish(await self.repair.poll())
        scope, audited = Scope.last(self.window), 0
        datasets = await self.auditor.datasets()
        for dataset in datasets:
            if await self.audit_one(dataset, scope, token, datasets) is not None:
                audited += 1
        log.info(
            "audit run finished",
            extra={
                "token": token,
                "datasets": audited,
                "started_at": started,
                "finished_at": self.auditor.clock(),
            },
        )

    async def _serve_requests(self, token: int) -> None:
        queue = AUDIT_QUEUE_GROUP
        async with self._subscription(self.request_subject, REQUEST_BACKLOG, queue) as sub:
            self.serving.set()
            try:
                async for msg in sub:
                    reply = await answer_request(self, msg.data, token, self.bus.max_payload)
                    await _respond(msg, reply)
            finally:
                self.serving.clear()

    async def _watch_backfills(self, token: int) -> None:
        async with self._subscription(self.events_subject, EVENT_BACKLOG) as sub:
            async for msg in sub:
                try:
                    event = BackfillEvent.decode(msg.data)
                except ParseError:
                    continue  # not a job event: nothing for the auditor
                assert self.repair is not None
                if (done := self.repair.finished(event)) is not None:
                    await self._finish([done])

    async def _finish(self, finished: list[Finished]) -> None:
        """Queue a re-audit of each repaired range; its gap findings then resolve."""
        for done in finished:
            job = done.job
            scope = Scope.between(job.start - REAUDIT_MARGIN_MS, job.end + REAUDIT_MARGIN_MS)
            try:
                self._reaudits.put_nowait((DatasetId.parse(job.dataset), scope))
            except asyncio.QueueFull:
                log.warning("re-audit queue full; %s waits for the schedule", job.dataset)

    async def _work_reaudits(self, token: int) -> None:
        while True:
            dataset, scope = await self._reaudits.get()
            await self.audit_one(dataset, scope, token)

    @contextlib.asynccontextmanager
    async def _subscription(
        self, subject: str, backlog: int, queue: str = ""
    ) -> AsyncIterator[Subscription]:
        sub = await self.bus.subscribe(subject, queue=queue, backlog=backlog)
        try:
            yield sub
        finally:
            with contextlib.suppress(BusError):
                await sub.unsubscribe()


def _observe(report: DatasetReport) -> None:
    metrics.AUDITS.labels("ok").inc()
    metrics.AUDIT_SECONDS.labels("total").observe(report.read_seconds + report.check_seconds)
    metrics.AUDIT_SECONDS.labels("store_read").observe(report.read_seconds)
    metrics.AUDIT_SECONDS.labels("checks").observe(report.check_seconds)


async def _respond(msg: Message, reply: bytes) -> None:
    try:
        await msg.respond(reply)
    except BusError as exc:
        log.warning("cannot answer audit request: %s", exc)
