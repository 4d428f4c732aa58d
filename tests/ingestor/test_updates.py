"""What the ingestor announces after each write: only stored records, every one, in order."""

from __future__ import annotations

import asyncio
from pathlib import Path

from petrosa_core.bus import Message
from petrosa_core.contracts import MarketUpdate
from petrosa_core.market import MarketStore
from petrosa_core.models import Candle
from petrosa_ingestor import metrics
from petrosa_ingestor.updates import stored_records
from tests.harness.servers import NatsServer
from tests.ingestor._support import Ingest, agg_trade_frames, publish

SYMBOLS = ("PUSHAUSDT", "PUSHBUSDT")
FRAMES = 1200


def ingest_on(server_url: str, tmp_path: Path) -> Ingest:
    return Ingest(
        server_url,
        f"sqlite+aiosqlite:///{tmp_path / 'market.db'}",
        f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}",
    )


class Announced:
    """Updates received, each checked against the store the moment it arrives."""

    def __init__(self, market: MarketStore) -> None:
        self.market = market
        self.updates: list[MarketUpdate] = []
        self.unstored: list[int] = []

    async def take(self, msg: Message) -> None:
        update = MarketUpdate.decode(msg.data)
        assert msg.subject == f"petrosa.market.updates.trades.{update.symbol}"
        self.updates.append(update)
        page = await self.market.query(
            update.dataset, start=update.first_time, end=update.last_time + 1, limit=10_000
        )
        held = {r.key for r in page.records}
        self.unstored += [k for k in update.keys if k not in held]

    def keys(self, symbol: str) -> list[int]:
        return [k for u in self.updates if u.symbol == symbol for k in u.keys]


async def test_every_stored_trade_is_announced_once_after_its_write(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    ingest = ingest_on(nats_server.url, tmp_path)
    market, metadata = await ingest.stores()
    announced = Announced(market)
    bus = await ingest.bus()
    published_before = metrics.UPDATES_PUBLISHED._value.get()
    try:
        await bus.subscribe("petrosa.market.updates.trades.*", handler=announced.take)
        async with ingest.running(ingest_batch_size=300, ingest_fetch_batch=150):
            await publish(bus.client, ingest.subject, agg_trade_frames(FRAMES, SYMBOLS))
            await ingest.wait_consumed(bus, published=FRAMES)
            await bus.flush()
            await asyncio.sleep(0.2)
    finally:
        await bus.close()
        await market.close()
        await metadata.close()
    per_symbol = FRAMES // len(SYMBOLS)
    for symbol in SYMBOLS:
        assert announced.keys(symbol) == list(range(per_symbol))  # each once, in write order
    assert announced.unstored == []
    seqs = [u.seq for u in announced.updates]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(u.inline_records() is not None for u in announced.updates if u.count <= 200)
    assert metrics.UPDATES_PUBLISHED._value.get() - published_before == len(announced.updates)


async def test_a_failed_announcement_is_counted_and_ingest_goes_on(tmp_path: Path) -> None:
    # A server taking 2 KiB messages: frames fit, an update of many records does not.
    server = NatsServer(tmp_path / "nats", config="max_payload: 2048\n")
    server.start()
    ingest = ingest_on(server.url, tmp_path)
    failed_before = metrics.UPDATES_FAILED._value.get()
    bus = await ingest.bus()
    try:
        async with ingest.running(ingest_batch_size=300, ingest_fetch_batch=300):
            await publish(bus.client, ingest.subject, agg_trade_frames(600, SYMBOLS))
            await ingest.wait_consumed(bus, published=600)
        market, metadata = await ingest.stores()
        counts = {str(i.dataset): i.count for i in await market.datasets()}
        await market.close()
        await metadata.close()
    finally:
        await bus.close()
        server.stop()
    assert counts == {f"trades:{s}": 300 for s in SYMBOLS}
    assert metrics.UPDATES_FAILED._value.get() > failed_before


def candle(close: float, *, closed: bool) -> Candle:
    start = 1_767_225_600_000
    return Candle(
        "PUSHAUSDT",
        "1m",
        start,
        start + 59_999,
        1.0,
        2.0,
        0.5,
        close,
        1.0,
        1.0,
        1,
        0.5,
        0.5,
        closed,
    )


def test_a_candle_updated_twice_in_a_batch_is_announced_as_stored_and_refused_ones_not() -> None:
    first, last = candle(1.1, closed=False), candle(1.2, closed=True)
    assert stored_records([first, last], [0, 1], refused=()) == [last]
    assert stored_records([first, last], [0, 1], refused={1}) == [first]
    assert stored_records([first], [0], refused={0}) == []
