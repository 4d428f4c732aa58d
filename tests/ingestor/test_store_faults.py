"""A store that cannot write (full disk, read-only file, refusing everything) loses nothing.

The ingestor holds the batch, turns not ready, retries, and stores every frame once the
fault is gone; nothing is dead-lettered for a fault of the store.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from petrosa_core.bus import Bus
from petrosa_core.market import open_market_store
from petrosa_core.runtime import Runtime
from tests.harness.servers import NatsServer
from tests.ingestor._support import Ingest, agg_trade_frames, publish, stored_keys
from tests.ingestor.test_hostile import _dead_letters
from tests.ingestor.test_processes import meta_url

SYMBOLS = ("BTCUSDT", "ETHUSDT")
FRAMES = 5_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs the test can fill; needs root (CI runs as root)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the filesystem is full; deleting it frees the space."""
    filler = folder / "filler"
    with filler.open("wb") as out, suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


async def writes_failing(runtime: Runtime, timeout: float = 60.0) -> bool:
    """Until readiness reports that the market store's writes fail."""
    async with asyncio.timeout(timeout):
        while "market_store_writes" not in await runtime.readiness():
            await asyncio.sleep(0.05)
    return True


@asynccontextmanager
async def ingesting(ingest: Ingest) -> AsyncIterator[tuple[Runtime, Bus, asyncio.Queue[object]]]:
    """The ingestor running; on exit, every published frame consumed, then stopped."""
    bus = await ingest.bus()
    dead: asyncio.Queue[object] = asyncio.Queue()

    async def collect(msg: object) -> None:
        await dead.put(msg)

    sub = await bus.client.subscribe(ingest.deadletter, cb=collect)
    try:
        async with ingest.running(ingest_ack_wait=3.0) as runtime:
            yield runtime, bus, dead
            await ingest.wait_consumed(bus, published=FRAMES)
    finally:
        await sub.unsubscribe()
        await bus.close()


def chattr(flag: str, path: Path) -> bool:
    """Set or clear an attribute (``+i`` immutable); false where that is not permitted."""
    return (
        subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False).returncode
        == 0
    )


async def assert_every_frame_stored_once(url: str) -> None:
    store = await open_market_store(url)
    try:
        for symbol in SYMBOLS:
            keys = await stored_keys(store, f"trades:{symbol}")
            assert keys == [("agg", i) for i in range(FRAMES // 2)]
    finally:
        await store.close()


async def test_a_full_disk_holds_the_frames_until_space_returns_and_loses_none(
    nats_server: NatsServer, small_disk: Path, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{small_disk / 'market.db'}"
    ingest = Ingest(nats_server.url, url, meta_url(tmp_path))
    async with ingesting(ingest) as (runtime, bus, dead):
        filler = fill(small_disk)
        await publish(bus.client, ingest.subject, agg_trade_frames(FRAMES, SYMBOLS))
        assert await writes_failing(runtime)
        # Held well past the ack wait (3 s): kept in progress, not redelivered elsewhere.
        await asyncio.sleep(5)
        assert "market_store_writes" in await runtime.readiness()
        filler.unlink()
    assert dead.empty()
    assert await _dead_letters(ingest) == []
    await assert_every_frame_stored_once(url)


async def test_a_read_only_database_file_holds_the_frames_until_writable_again(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    db = tmp_path / "market.db"
    url = f"sqlite+aiosqlite:///{db}"
    ingest = Ingest(nats_server.url, url, meta_url(tmp_path))
    files = [db, db.with_name("market.db-wal")]  # not -shm: it is mapped into memory
    try:
        async with ingesting(ingest) as (runtime, bus, dead):
            if not all(chattr("+i", f) for f in files):
                pytest.skip("cannot make a file immutable here (needs root)")
            await publish(bus.client, ingest.subject, agg_trade_frames(FRAMES, SYMBOLS))
            assert await writes_failing(runtime)
            await asyncio.sleep(2)
            assert all(chattr("-i", f) for f in files)
    finally:
        for f in files:
            chattr("-i", f)
    assert dead.empty()
    await assert_every_frame_stored_once(url)


async def test_a_store_that_refuses_every_record_is_a_store_fault_not_a_batch_of_bad_frames(
    nats_server: NatsServer, mysql_url: str, tmp_path: Path
) -> None:
    ingest = Ingest(nats_server.url, mysql_url, meta_url(tmp_path))
    frames = agg_trade_frames(FRAMES, SYMBOLS)
    engine = create_async_engine(mysql_url)
    try:
        async with ingesting(ingest) as (runtime, bus, dead):
            await publish(bus.client, ingest.subject, frames[:1000])
            await ingest.wait_consumed(bus, published=1000)
            async with engine.begin() as conn:
                await conn.execute(sa.text("SET SESSION check_constraint_checks = 0"))
                await conn.execute(sa.text(REFUSE_ALL))
            # A lone frame first: refused, and so is a rewrite of one already stored.
            await publish(bus.client, ingest.subject, frames[1000:1001])
            assert await writes_failing(runtime)
            await publish(bus.client, ingest.subject, frames[1001:])
            await asyncio.sleep(2)
            async with engine.begin() as conn:
                await conn.execute(sa.text("ALTER TABLE trades DROP CONSTRAINT refuse_all"))
    finally:
        await engine.dispose()
    assert dead.empty()
    await assert_every_frame_stored_once(mysql_url)


# Every trade has an id of at least 0: none is accepted from now on. The rows stored so far
# are not checked while the constraint is added.
REFUSE_ALL = "ALTER TABLE trades ADD CONSTRAINT refuse_all CHECK (trade_id < 0)"
