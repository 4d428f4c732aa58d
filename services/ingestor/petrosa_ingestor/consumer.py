"""The ingest loop: fetch frames from JetStream, parse, buffer, write idempotently, then ack.

A frame is acked only after the write holding it returned (durable). When the store
cannot write (down, full, read-only, or refusing every record), the batches held are kept
in memory, fetching stops, readiness turns false, and their writes are retried with a
growing delay while JetStream is told they are still in progress; the backlog waits in
JetStream. Only a record the store refuses for its content is dead-lettered.

One frame never stops the loop: every error parsing it dead-letters it, and a frame
delivered more than ``max_deliver`` times (it was held by processes that died) is
dead-lettered before it is parsed again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Collection

import msgspec

from petrosa_core.binance import FrameParser, event_type_of
from petrosa_core.bus import PullConsumer, PulledMessage
from petrosa_core.errors import BusError, ParseError, StoreError
from petrosa_core.market import MarketStore
from petrosa_core.models import DatasetKind, MarkPrice, Record
from petrosa_ingestor import metrics
from petrosa_ingestor.batch import Batch
from petrosa_ingestor.catalog import Catalog, Publisher, Registrar, report_break
from petrosa_ingestor.deadletters import DeadLetters
from petrosa_ingestor.funding import FundingTracker
from petrosa_ingestor.sequences import SequenceTracker
from petrosa_ingestor.updates import UpdatePublisher
from petrosa_ingestor.writer import BatchWriter

log = logging.getLogger("petrosa.ingestor")

# How long an idle fetch waits before the loop looks at the stop flag again.
IDLE_POLL_SECONDS = 1.0
# First retry of a held batch; each failed retry doubles the wait up to the maximum, so a
# store that stays down for hours costs one write attempt every half minute.
STORE_RETRY_SECONDS = 0.5
STORE_RETRY_MAX_SECONDS = 30.0


class IngestConfig(msgspec.Struct, frozen=True):
    subject: str
    batch_size: int
    flush_interval: float
    fetch_batch: int
    nak_delay: float
    audit_events_subject: str
    ack_wait: float = 30.0
    max_deliver: int = 5


class Ingestor:
    """Consumes one durable pull subscription into a market store."""

    def __init__(
        self,
        consumer: PullConsumer,
        store: MarketStore,
        catalog: Catalog,
        publisher: Publisher,
        dead_letters: DeadLetters,
        config: IngestConfig,
        parser: FrameParser | None = None,
    ) -> None:
        self.consumer = consumer
        self.store = store
        self.catalog = catalog
        self.publisher = publisher
        self.dead_letters = dead_letters
        self.config = config
        self.parser = parser or FrameParser()
        self.writer = BatchWriter(store)
        self.registrar = Registrar(catalog, config.subject)
        self.updates = UpdatePublisher(publisher)
        self.store_available = True
        self._batch = Batch()
        self._flushing: asyncio.Task[None] | None = None
        # Batches the store could not write, oldest first; at most the two a flush holds.
        self._held: list[Batch] = []
        self._sequences = SequenceTracker()
        self._funding = FundingTracker()
        metrics.STORE_AVAILABLE.set(1)

    async def run(self, stopping: asyncio.Event) -> None:
        """Ingest until ``stopping`` is set, then flush and ack what is buffered.

        One flush runs while the next batch is fetched and parsed, so the store's work
        overlaps with NATS's; at most two batches are held in memory.
        """
        while not stopping.is_set():
            if self._held:
                await self._recover(stopping)
                continue
            await self._fetch_round()
            if len(self._batch) >= self.config.batch_size or self._flush_due():
                await self._start_flush()
        await self.flush()
        for batch in self._held:  # stopping while the store is down: hand them back
            await self._release(batch)
        self._held.clear()

    async def _start_flush(self) -> None:
        await self._settle()
        batch, self._batch = self._batch, Batch()
        if batch.groups:
            self._flushing = asyncio.create_task(self._flush(batch), name="ingest-flush")

    async def _settle(self) -> None:
        """Wait for the flush in flight, if any (its failure propagates here)."""
        if self._flushing is not None:
            task, self._flushing = self._flushing, None
            await task

    async def _recover(self, stopping: asyncio.Event) -> None:
        """Fetch nothing; retry the held batches, oldest first, until they are written."""
        await self._settle()
        if self._batch.groups:  # what was buffered behind the failed batch waits with it
            self._held.append(self._batch)
            self._batch = Batch()
        delay = STORE_RETRY_SECONDS
        while self._held and not stopping.is_set():
            await self._hold(stopping, delay)
            if stopping.is_set():
                return
            batch = self._held[0]
            try:
                rejected = await self.writer.write(batch)
            except StoreError as exc:
                delay = min(delay * 2, STORE_RETRY_MAX_SECONDS)
                log.warning("market store still cannot write; retrying in %.1f s: %s", delay, exc)
                continue
            self._held.pop(0)
            await self._settle_batch(batch, rejected)
        if not self._held:
            log.info("market store writes again; resuming intake")
            self.store_available = True
            metrics.STORE_AVAILABLE.set(1)

    async def _hold(self, stopping: asyncio.Event, seconds: float) -> None:
        """Wait ``seconds``, telling JetStream often enough that held frames are in progress."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not stopping.is_set():
            await self._touch_held()
            await _wait(stopping, min(left, self.config.ack_wait / 3))

    async def _touch_held(self) -> None:
        for batch in self._held:
            for msg, _ in batch.messages:
                try:
                    await msg.in_progress()
                except BusError as exc:
                    log.warning("cannot extend a held frame's ack deadline: %s", exc)
                    return

    def _flush_due(self) -> bool:
        return bool(self._batch.groups) and self._batch.age() >= self.config.flush_interval

    async def _fetch_round(self) -> None:
        room = min(self.config.fetch_batch, self.config.batch_size - len(self._batch))
        timeout = IDLE_POLL_SECONDS  # bounded, so a stop request is seen promptly
        if self._batch.groups:
            timeout = min(max(self.config.flush_interval - self._batch.age(), 0.005), timeout)
        try:
            messages = await self.consumer.fetch(max(room, 1), within=timeout)
        except BusError as exc:
            # Disconnected or reconnecting: the client retries; do not spin meanwhile.
            log.warning("fetch failed: %s", exc)
            await asyncio.sleep(STORE_RETRY_SECONDS)
            return
        received: Counter[str] = Counter()
        for msg in messages:
            received[await self._accept(msg)] += 1
        for event_type, count in received.items():
            metrics.MESSAGES_RECEIVED.labels(event_type).inc(count)

    async def _accept(self, msg: PulledMessage) -> str:
        """Parse and buffer one frame; return its event type (``unknown`` if unparsable)."""
        deliveries = msg.deliveries
        if deliveries > self.config.max_deliver:
            detail = f"delivered {deliveries} times, each time to a process that died holding it"
            await self._dead_letter(msg, "max_deliver", detail)
            return "unknown"
        try:
            record = self.parser.parse(msg.data)
        except ParseError as exc:
            await self._dead_letter(msg, exc.reason, exc.detail)
            return "unknown"
        event_type = event_type_of(record)
        self._batch.add_message(msg, event_type)
        self._batch.add_record(record)
        try:
            await self._derive(record)
        except Exception:  # the frame is good and buffered; only a derived check failed
            log.exception("deriving from a %s frame failed; the frame is kept", event_type)
        return event_type

    async def _derive(self, record: Record) -> None:
        """Funding settlements and sequence checks that one record implies."""
        if isinstance(record, MarkPrice) and (settled := self._funding.observe(record)):
            self._batch.add_record(settled)
        if brk := self._sequences.observe(record):
            await report_break(self.publisher, self.config.audit_events_subject, brk)

    async def flush(self) -> None:
        """Write what is buffered now and wait until it is acked (or handed back)."""
        await self._start_flush()
        await self._settle()

    async def _flush(self, batch: Batch) -> None:
        """Write every group; ack on success, hold the batch if the store cannot write.

        A record the store refuses outright (not an outage) is found by writing its group
        one record at a time; its frame is dead-lettered and the rest are acked.
        """
        try:
            rejected = await self.writer.write(batch)
        except StoreError as exc:
            self._hold_batch(batch, exc)
            return
        await self._settle_batch(batch, rejected)

    async def _settle_batch(self, batch: Batch, rejected: dict[int, str]) -> None:
        """The batch is written: announce what was stored, dead-letter the refused, ack."""
        await self.updates.announce(batch, rejected.keys())
        for index, reason in rejected.items():
            if index < 0:  # a funding record carried over from a failed flush
                log.error("market store refused a derived funding record: %s", reason)
                continue
            await self._dead_letter(batch.messages[index][0], "store_rejected", reason)
        await self._ack(batch, skip=rejected.keys())
        await self.registrar.register(batch.groups)

    async def _ack(self, batch: Batch, skip: Collection[int] = ()) -> None:
        now_mono, now_wall = time.monotonic(), time.time()
        metrics.BATCH_SIZE.observe(len(batch))
        messages, received = batch.messages, batch.received_at
        if skip:  # only when the store refused some records
            kept = [i for i in range(len(messages)) if i not in skip]
            messages, received = [messages[i] for i in kept], [received[i] for i in kept]
        for msg, _ in messages:
            try:
                await msg.ack()
            except BusError as exc:
                # The frame is stored; JetStream redelivers it and the write is a no-op.
                log.warning("ack failed, frame will be redelivered: %s", exc)
        metrics.PROCESSING_SECONDS.observe_many([now_mono - t for t in received])
        metrics.PUBLISH_TO_WRITE_SECONDS.observe_many(
            [max(now_wall - msg.published_at, 0.0) for msg, _ in messages]
        )
        for event_type, count in Counter(event_type for _, event_type in messages).items():
            metrics.MESSAGES_PROCESSED.labels(event_type).inc(count)

    def _hold_batch(self, batch: Batch, exc: StoreError) -> None:
        if not self._held:
            log.error("market store cannot write; holding the batch and pausing intake: %s", exc)
        self._held.append(batch)
        self.store_available = False
        metrics.STORE_AVAILABLE.set(0)

    async def _release(self, batch: Batch) -> None:
        """Nak ``batch``'s frames with a delay; keep its derived funding records."""
        for msg, event_type in batch.messages:
            metrics.MESSAGES_FAILED.labels(event_type, "store_unavailable").inc()
            try:
                await msg.nak(delay=self.config.nak_delay)
            except BusError:
                pass  # unacked frames are redelivered after ack_wait anyway
        # Funding records derived from these frames would not be derived again on
        # redelivery (the tracker has moved on), so they wait for the next flush.
        for dataset, records, _ in batch.datasets():
            if dataset.kind is DatasetKind.FUNDING_RATES:
                for record in records:
                    self._batch.add_record(record, source=-1)

    async def _dead_letter(self, msg: PulledMessage, reason: str, detail: str) -> None:
        """Persist the frame with its reason, then terminate it; on failure it is redelivered."""
        metrics.MESSAGES_FAILED.labels("unknown", reason).inc()
        try:
            await self.dead_letters.put(msg.data, msg.subject, reason, detail)
            await msg.term()
        except BusError as exc:
            log.warning("dead-letter publish failed; the frame will be redelivered: %s", exc)
            return
        metrics.DEAD_LETTERS.labels(reason).inc()

    async def poll_lag(self, stopping: asyncio.Event, every: float = 5.0) -> None:
        """Keep the consumer-lag gauges current."""
        while not stopping.is_set():
            try:
                state = await self.consumer.state()
            except BusError as exc:
                log.debug("consumer info unavailable: %s", exc)
            else:
                metrics.CONSUMER_PENDING.set(state.pending)
                metrics.CONSUMER_ACK_PENDING.set(state.ack_pending)
            await _wait(stopping, every)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``event`` is set, whichever comes first."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        pass
