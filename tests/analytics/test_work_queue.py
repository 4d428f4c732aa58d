"""The work queue on a real NATS: a round's items computed once, redeliveries harmless,
a bad item dead-lettered with its reason."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from petrosa_analytics.engine import Engine, Schedule
from petrosa_analytics.scheduler import Scheduler
from petrosa_analytics.worker import REASON_HEADER, Worker
from petrosa_core.bus import Bus, ensure_work_queue
from petrosa_core.contracts import AnalyticsWork
from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.models import DatasetId
from tests.analytics.engine_support import candles_id, store_candles, xrp_5m
from tests.harness.servers import free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")
WAIT = 60.0


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def market(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MarketStore]:
    path = tmp_path_factory.mktemp("work") / "market.db"
    store = await open_market_store(f"sqlite+aiosqlite:///{path}")
    try:
        yield store
    finally:
        await store.close()


class Queue:
    """A work queue of its own (stream, subject, consumer) and a worker on it."""

    def __init__(self, bus: Bus, market: MarketStore) -> None:
        tag = uuid.uuid4().hex[:10]
        self.bus, self.market = bus, market
        self.stream, self.subject = f"WORK_{tag}", f"test.work.{tag}"
        self.deadletters = f"test.dead.{tag}"
        self.engine = Engine(market, Schedule.of({}), max_bars=10_000)
        self.scheduler = Scheduler(
            market, bus, subject=self.subject, stream=self.stream, interval=3600
        )

    async def worker(self) -> Worker:
        consumer = await ensure_work_queue(
            self.bus, self.stream, self.subject, "analytics", ack_wait=5, max_deliver=3
        )
        return Worker(
            self.engine, self.market, None, self.bus, consumer,
            name="test", ack_wait=5, deadletter_subject=self.deadletters,
        )  # fmt: skip

    async def until_rounds(self, round_id: str, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while len(await self.market.analytics_rounds(round_id)) < count:
                await asyncio.sleep(0.05)


@pytest.fixture
async def queue(bus: Bus, market: MarketStore) -> AsyncIterator[Queue]:
    made = Queue(bus, market)
    yield made
    await bus.js.delete_stream(made.stream)


async def running(worker: Worker) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(worker.run(stop))


def computed(caplog: pytest.LogCaptureFixture, round_id: str) -> list[str]:
    return [
        r.__dict__["dataset"]
        for r in caplog.records
        if r.getMessage() == "analytics dataset computed" and r.__dict__["round"] == round_id
    ]


async def test_a_round_computes_every_dataset_once_and_a_redelivery_is_skipped(
    queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="petrosa_analytics")
    names = [f"W{uuid.uuid4().hex[:6].upper()}USDT" for _ in range(3)]
    await store_candles(queue.market, [c for n in names for c in xrp_5m(n)[-300:]])
    datasets = [candles_id(n, "5m") for n in names]
    queue.scheduler.datasets = lambda: _just(datasets)  # type: ignore[method-assign]
    worker = await queue.worker()
    round_id = await queue.scheduler.publish_round(token=7)
    stop, task = await running(worker)
    await queue.until_rounds(round_id, 3)
    # The same item again, as JetStream redelivers it after a worker died before its ack.
    again = AnalyticsWork(round_id, str(datasets[0]), 7, 0)
    await queue.bus.publish_to_stream(queue.subject, again.encode(), stream=queue.stream)
    async with asyncio.timeout(WAIT):
        while not any(r.getMessage() == "analytics item skipped" for r in caplog.records):
            await asyncio.sleep(0.05)
    stop.set()
    await task
    assert sorted(computed(caplog, round_id)) == sorted(str(d) for d in datasets)
    for dataset in datasets:
        latest = await queue.market.latest_analytics(dataset, "volatility")
        assert latest and {r.round_id for r in latest} == {round_id}


async def test_an_item_that_cannot_be_read_is_dead_lettered_with_its_reason(
    queue: Queue,
) -> None:
    letters = await queue.bus.client.subscribe(queue.deadletters)
    stop, task = await running(await queue.worker())
    await queue.bus.publish_to_stream(queue.subject, b'{"round_id": 1}', stream=queue.stream)
    letter = await letters.next_msg(timeout=WAIT)
    stop.set()
    await task
    assert letter.data == b'{"round_id": 1}'
    assert (letter.headers or {}).get(REASON_HEADER) == "bad_work_item"
    state = await (await queue.worker()).consumer.state()
    assert (state.pending, state.ack_pending) == (0, 0)


async def test_a_store_outage_hands_the_item_back_and_nothing_is_lost(
    queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="petrosa_analytics")
    name = f"OUT{uuid.uuid4().hex[:6].upper()}USDT"
    await store_candles(queue.market, xrp_5m(name)[-100:])
    dataset = candles_id(name, "5m")
    healthy = await queue.worker()
    # A MongoDB nobody listens on: every store call is an outage.
    away = await open_market_store(
        f"mongodb://127.0.0.1:{free_port()}/away?serverSelectionTimeoutMS=200"
    )
    work = AnalyticsWork("outage-round", str(dataset), 1, 0)
    await queue.bus.publish_to_stream(queue.subject, work.encode(), stream=queue.stream)
    try:
        broken = Worker(
            Engine(away, Schedule.of({}), max_bars=1000), away, None, queue.bus,
            healthy.consumer, name="broken", ack_wait=5, deadletter_subject=queue.deadletters,
        )  # fmt: skip
        stop, task = await running(broken)
        async with asyncio.timeout(WAIT):
            while not any("waits for the store" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.05)
        stop.set()
        await task
    finally:
        await away.close()
    assert await queue.market.analytics_rounds("outage-round") == []
    stop, task = await running(healthy)
    await queue.until_rounds("outage-round", 1)
    stop.set()
    await task
    assert computed(caplog, "outage-round") == [str(dataset)]


async def _just(datasets: list[DatasetId]) -> list[DatasetId]:
    return datasets
