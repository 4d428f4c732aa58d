"""Both SQL stores connect alike: one SQLite busy timeout, WAL, and pool figures on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from petrosa_core._sql import SQLITE_BUSY_TIMEOUT
from petrosa_core.market.sql import SqlMarketStore
from petrosa_core.metadata import MetadataStore


async def pragma(engine: AsyncEngine, name: str) -> Any:
    """A PRAGMA read through one of the engine's own pooled connections."""
    async with engine.connect() as conn:
        return (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()


async def test_both_stores_wait_alike_for_a_sqlite_write_lock_in_wal_mode(tmp_path: Path) -> None:
    """Services on one machine share SQLite files; a store that gave up sooner would fail first."""
    market = await SqlMarketStore.open(f"sqlite+aiosqlite:///{tmp_path / 'market.db'}")
    metadata = await MetadataStore.open(f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}")
    try:
        engines = [market._engine, metadata._engine]
        waits = [await pragma(engine, "busy_timeout") for engine in engines]
        modes = [await pragma(engine, "journal_mode") for engine in engines]
        syncs = [await pragma(engine, "synchronous") for engine in engines]
    finally:
        await market.close()
        await metadata.close()
    assert waits == [SQLITE_BUSY_TIMEOUT * 1000] * 2
    assert modes == ["wal", "wal"]
    assert syncs == [1, 1]  # NORMAL


async def test_both_stores_report_their_pool_without_a_round_trip(sqlite_url: str) -> None:
    market = await SqlMarketStore.open(sqlite_url)
    metadata = await MetadataStore.open(sqlite_url)
    try:
        figures = [market.pool_status(), metadata.pool_status()]
    finally:
        await market.close()
        await metadata.close()
    assert [f["backend"] for f in figures] == ["sqlite", "sqlite"]
    assert [f["checkedout"] for f in figures] == [0, 0]


def test_the_changed_rows_flag_is_asyncmy_s_own() -> None:
    from asyncmy.constants import CLIENT

    from petrosa_core import _sql

    assert _sql._CLIENT_FOUND_ROWS == CLIENT.FOUND_ROWS
