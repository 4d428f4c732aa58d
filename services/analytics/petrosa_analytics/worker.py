"""The worker: pulls one work item at a time, computes its dataset, stores, then acks.

Every replica runs one, on the one durable consumer, so JetStream hands each item to one
of them. An item is acked only after its results and its round record are stored; a
worker killed before that leaves the item unacked, and JetStream delivers it again to
another worker after ``ack_wait``. A redelivered item whose round is already recorded is
acked without computing, so each dataset is computed once per round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Coroutine
from typing import Any

from petrosa_analytics import telemetry
from petrosa_analytics.engine import PROCESS, Engine
from petrosa_core.bus import Bus, PullConsumer, PulledMessage
from petrosa_core.contracts import AnalyticsWork
from petrosa_core.errors import BusError, ParseError, PetrosaError, StoreError, StoreUnavailable
from petrosa_core.market import MarketStore
from petrosa_core.market.analytics import AnalyticsResult, AnalyticsRound
from petrosa_core.metadata import MetadataStore
from petrosa_core.models import DatasetId

log = logging.getLogger(__name__)

# A store outage: wait this long before the item is offered again.
RETRY_DELAY = 5.0
# How long one fetch waits for an item before checking whether to stop.
FETCH_WAIT = 1.0
REASON_HEADER = "Petrosa-Reason"
DETAIL_HEADER = "Petrosa-Detail"


class Worker:
    """Computes work items from ``consumer`` until told to stop."""

    def __init__(
        self,
        engine: Engine,
        market: MarketStore,
        metadata: MetadataStore | None,
        bus: Bus,
        consumer: PullConsumer,
        *,
        name: str,
        ack_wait: float,
        deadletter_subject: str,
    ) -> None:
        self.engine = engine
        self.market = market
        self.metadata = metadata
        self.bus = bus
        self.consumer = consumer
        self.name = name
        self.ack_wait = ack_wait
        self.deadletter_subject = deadletter_subject
        self._lineage_known: set[tuple[str, str]] = set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Pull and settle items one by one; the item in hand is finished before stopping."""
        while not stopping.is_set():
            try:
                messages = await self.consumer.fetch(1, within=FETCH_WAIT)
            except BusError as exc:
                log.warning("cannot fetch analytics work: %s", exc)
                await asyncio.sleep(FETCH_WAIT)
                continue
            for msg in messages:
                await self.settle(msg)

    async def settle(self, msg: PulledMessage) -> None:
        """Compute, then ack; a store outage naks for later; a bad item is dead-lettered."""
        try:
            work = AnalyticsWork.decode(msg.data)
        except ParseError as exc:
            await self._dead_letter(msg, exc.reason, exc.detail or "")
            return
        try:
            outcome = await self._with_heartbeat(msg, self.handle(work))
        except StoreUnavailable as exc:
            log.warning("analytics of %s waits for the store: %s", work.dataset, exc)
            telemetry.ITEMS.labels("retried").inc()
            await _quietly(msg.nak(RETRY_DELAY))
            return
        except (PetrosaError, ValueError) as exc:
            await self._dead_letter(msg, "compute_failed", f"{work.dataset}: {exc}")
            return
        telemetry.ITEMS.labels(outcome).inc()
        await _quietly(msg.ack())

    async def handle(self, work: AnalyticsWork) -> str:
        """Compute and store one dataset for one round; "skipped" if the round has it."""
        dataset = work.dataset_id
        if await self.market.analytics_rounds(work.round_id, dataset):
            log.info(
                "analytics item skipped",
                extra={"round": work.round_id, "dataset": work.dataset, "why": "done"},
            )
            return "skipped"
        started = time.perf_counter()
        results = await self.engine.compute_dataset(dataset, work.round_id)
        stored = time.perf_counter()
        await self.store(dataset, results, work.round_id)
        telemetry.ITEM_SECONDS.labels("store").observe(time.perf_counter() - stored)
        telemetry.ITEM_SECONDS.labels("total").observe(time.perf_counter() - started)
        log.info(
            "analytics dataset computed",
            extra={
                "round": work.round_id,
                "dataset": work.dataset,
                "results": len(results),
                "worker": self.name,
                "seconds": round(time.perf_counter() - started, 4),
            },
        )
        return "computed"

    async def store(
        self, dataset: DatasetId, results: list[AnalyticsResult], round_id: str
    ) -> None:
        """Write the results with the round record, then note their lineage once per process."""
        done = AnalyticsRound(
            dataset=dataset,
            round_id=round_id,
            computed_time=self.engine.clock(),
            results=len(results),
            worker=self.name[:128],
        )
        await self.market.write_analytics(results, done if round_id else None)
        telemetry.stored_now()
        for family, count in Counter(r.family for r in results).items():
            telemetry.METRICS_COMPUTED.labels(family).inc(count)
        await self.note_lineage(dataset, {r.family for r in results})

    async def note_lineage(self, source: DatasetId, families: set[str]) -> None:
        """``analytics:SYMBOL:family`` comes from ``source``: recorded once in the catalog.

        A lost lineage note is logged, never a reason to redo stored results.
        """
        if self.metadata is None:
            return
        for family in sorted(families):
            target = f"analytics:{source.symbol}:{family}"
            if (target, str(source)) in self._lineage_known:
                continue
            try:
                known = {r.dataset_id for r in await self.metadata.lineage_from(source)}
                if target not in known:
                    await self.metadata.add_lineage(target, source=str(source), process=PROCESS)
            except StoreError as exc:
                log.warning("lineage of %s not recorded: %s", target, exc)
                continue
            self._lineage_known.add((target, str(source)))

    async def _with_heartbeat(self, msg: PulledMessage, work: Coroutine[Any, Any, str]) -> str:
        """Run ``work`` while telling JetStream every third of ``ack_wait`` that it goes on."""
        beat = asyncio.create_task(_heartbeat(msg, self.ack_wait / 3), name="analytics-heartbeat")
        try:
            return await work
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _dead_letter(self, msg: PulledMessage, reason: str, detail: str) -> None:
        """Never deliver the item again; say why on the dead-letter subject."""
        log.warning("analytics item dead-lettered: %s: %s", reason, detail[:300])
        telemetry.ITEMS.labels("dead_lettered").inc()
        headers = {REASON_HEADER: reason[:64], DETAIL_HEADER: _header(detail)}
        with contextlib.suppress(BusError):
            await self.bus.publish(self.deadletter_subject, msg.data, headers=headers)
        await _quietly(msg.term())


async def _heartbeat(msg: PulledMessage, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await _quietly(msg.in_progress())


async def _quietly(settling: Awaitable[None]) -> None:
    """An ack that cannot reach NATS is redelivered later; the round record makes that safe."""
    try:
        await settling
    except BusError as exc:
        log.warning("cannot settle an analytics item: %s", exc)


def _header(text: str) -> str:
    """Header values are one line of at most 300 characters."""
    return " ".join(text.split())[:300]
