"""The ingestor as a real process: killed, drained, cut off from NATS or from its store."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.models import DatasetId
from tests.harness.servers import MariaDB, NatsServer, free_port
from tests.harness.tcp_proxy import TcpProxy
from tests.ingestor._support import (
    Ingest,
    agg_trade_frames,
    publish,
    readiness,
    stored_keys,
    wait_ready,
)

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def meta_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}"


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


class Proc:
    """One ingestor process and its metrics port."""

    def __init__(self, ingest: Ingest, **env: str) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] = ingest.spawn(self.port, **env)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


@pytest.fixture
async def procs() -> AsyncIterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop(signal.SIGKILL)


async def total(store: MarketStore) -> int:
    return sum([await store.count(DatasetId.parse(f"trades:{s}")) for s in SYMBOLS])


async def wait_total_at_least(store: MarketStore, n: int, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while await total(store) < n:
            await asyncio.sleep(0.05)


async def assert_each_frame_stored_once(store: MarketStore, per_symbol: int) -> None:
    for symbol in SYMBOLS:
        keys = await stored_keys(store, f"trades:{symbol}")
        assert keys == [("agg", i) for i in range(per_symbol)]


async def test_sigkill_mid_stream_then_restart_stores_every_frame_once(
    nats_server: NatsServer, sqlite_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    ingest = Ingest(nats_server.url, sqlite_url, meta_url(tmp_path))
    frames = agg_trade_frames(100_000, SYMBOLS)
    bus = await ingest.bus()
    store = await open_market_store(sqlite_url)
    try:
        procs.append(Proc(ingest))
        await wait_ready(procs[0].port)
        publisher = asyncio.create_task(publish(bus.client, ingest.subject, frames))
        await wait_total_at_least(store, 20_000)
        assert procs[0].stop(signal.SIGKILL) == -signal.SIGKILL
        await publisher
        procs.append(Proc(ingest))
        await ingest.wait_consumed(bus)
        await assert_each_frame_stored_once(store, 50_000)
    finally:
        await store.close()
        await bus.close()


async def test_nats_restart_mid_stream_loses_nothing(
    private_nats: NatsServer, sqlite_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    ingest = Ingest(private_nats.url, sqlite_url, meta_url(tmp_path))
    frames = agg_trade_frames(40_000, SYMBOLS)
    store = await open_market_store(sqlite_url)
    try:
        procs.append(Proc(ingest))
        await wait_ready(procs[0].port)
        bus = await ingest.bus()
        await publish(bus.client, ingest.subject, frames[:20_000])
        await wait_total_at_least(store, 5_000)
        await bus.close()
        private_nats.restart(downtime=1.0)
        bus = await ingest.bus()
        await publish(bus.client, ingest.subject, frames[20_000:])
        await ingest.wait_consumed(bus)
        await bus.close()
        await assert_each_frame_stored_once(store, 20_000)
        assert procs[0].proc.poll() is None
    finally:
        await store.close()


OUTAGE_SECONDS = 30.0


async def test_store_outage_pauses_intake_and_resumes_after_recovery(
    nats_server: NatsServer, mariadb: MariaDB, mysql_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    proxy = TcpProxy(mariadb.host, mariadb.port)
    await proxy.start()
    proxied = mysql_url.replace(f"{mariadb.host}:{mariadb.port}", f"127.0.0.1:{proxy.port}")
    ingest = Ingest(nats_server.url, proxied, meta_url(tmp_path))
    frames = agg_trade_frames(20_000, SYMBOLS)
    store = await open_market_store(mysql_url)  # direct: the test's own view stays up
    bus = await ingest.bus()
    try:
        procs.append(Proc(ingest))
        await wait_ready(procs[0].port)
        await publish(bus.client, ingest.subject, frames[:10_000])
        await wait_total_at_least(store, 10_000)
        await proxy.cut()
        await publish(bus.client, ingest.subject, frames[10_000:])
        statuses = await sample_readiness(procs[0].port, OUTAGE_SECONDS)
        assert 503 in statuses and statuses[-1] == 503
        stored_during_outage = await total(store)
        await proxy.restore()
        recovered = time.monotonic()
        await wait_total_at_least(store, stored_during_outage + 1, timeout=5.0)
        assert time.monotonic() - recovered < 5.0
        await ingest.wait_consumed(bus)
        await assert_each_frame_stored_once(store, 10_000)
        await wait_ready(procs[0].port, timeout=5.0)
    finally:
        await bus.close()
        await store.close()
        await proxy.close()


async def sample_readiness(port: int, seconds: float) -> list[int | None]:
    statuses = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        statuses.append(await readiness(port))
        await asyncio.sleep(0.5)
    return statuses


async def test_sigterm_flushes_and_acks_what_is_buffered_then_exits_zero(
    nats_server: NatsServer, sqlite_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    ingest = Ingest(nats_server.url, sqlite_url, meta_url(tmp_path))
    bus = await ingest.bus()
    store = await open_market_store(sqlite_url)
    try:
        # A long flush interval keeps the frames in the buffer until shutdown.
        procs.append(Proc(ingest, INGEST_FLUSH_INTERVAL="60", INGEST_BATCH_SIZE="5000"))
        await wait_ready(procs[0].port)
        await publish(bus.client, ingest.subject, agg_trade_frames(1_000, SYMBOLS))
        async with asyncio.timeout(30):
            while (await bus.js.consumer_info(ingest.stream, "ingestor")).num_ack_pending < 1_000:
                await asyncio.sleep(0.05)
        assert await total(store) == 0
        started = time.monotonic()
        assert procs[0].stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 15.0
        assert await total(store) == 1_000
        info = await bus.js.consumer_info(ingest.stream, "ingestor")
        assert (info.num_ack_pending, info.num_pending) == (0, 0)
    finally:
        await store.close()
        await bus.close()
