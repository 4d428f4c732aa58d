"""What only the SQL backend promises: its migrated schema, native times and upsert guard."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from petrosa_core.errors import StoreError, StoreUnavailable
from petrosa_core.market._sql_tables import metadata, time_text
from petrosa_core.market._sql_writes import row_writer
from petrosa_core.market.sql import MIGRATIONS, VERSION_TABLE, SqlMarketStore
from petrosa_core.migrations import current_revision, head_revision
from petrosa_core.models import MAX_TIME_MS, Candle, DatasetKind
from petrosa_core.times import to_naive_utc
from tests.core.market_samples import C1M, TRADES, trade
from tests.core.market_samples import candle as minute_candle

T0 = 1_626_992_700_000  # 2021-07-22 22:25:00 UTC


def candle(close: float, closed: bool) -> Candle:
    return Candle(
        symbol="SUSHIUSDT", interval="1m", open_time=T0, close_time=T0 + 59_999, open=7.604,
        high=7.7, low=7.598, close=close, volume=10_355.0, quote_volume=78_812.3465,
        trade_count=412, taker_buy_base_volume=5_120.5, taker_buy_quote_volume=38_970.1189,
        is_closed=closed,
    )  # fmt: skip


@pytest.fixture(params=["sqlite", "mariadb"])
def sql_url(request: pytest.FixtureRequest) -> str:
    return str(
        request.getfixturevalue({"sqlite": "sqlite_url", "mariadb": "mysql_url"}[request.param])
    )


@pytest.fixture
async def engine(sql_url: str) -> AsyncIterator[AsyncEngine]:
    plain = create_async_engine(sql_url)
    yield plain
    await plain.dispose()


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return [d for d in compare_metadata(context, metadata) if d[1].name != VERSION_TABLE]


async def test_concurrent_opens_migrate_once_to_the_tables_the_code_uses(
    sql_url: str, engine: AsyncEngine
) -> None:
    stores = await asyncio.gather(*(SqlMarketStore.open(sql_url) for _ in range(3)))
    for store in stores:
        await store.close()
    assert await current_revision(engine, VERSION_TABLE) == head_revision(MIGRATIONS) == "0002"
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []


async def test_times_are_stored_as_native_timestamps(sql_url: str, engine: AsyncEngine) -> None:
    store = await SqlMarketStore.open(sql_url)
    await store.write(candle(7.61, True).dataset, [candle(7.61, True)])
    await store.close()
    async with engine.connect() as conn:
        raw = (await conn.exec_driver_sql("SELECT open_time, close_time FROM candles")).one()
    if engine.dialect.name == "sqlite":
        assert tuple(raw) == ("2021-07-22 22:25:00.000000", "2021-07-22 22:25:59.999000")
    else:
        # DATETIME(3) holds naive UTC to the millisecond.
        opened = datetime(2021, 7, 22, 22, 25, tzinfo=UTC).replace(tzinfo=None)
        assert tuple(raw) == (opened, opened + timedelta(seconds=59, milliseconds=999))


@pytest.mark.parametrize(("stored", "incoming", "kept"), [
    (candle(7.61, True), candle(7.70, False), candle(7.61, True)),
    (candle(7.61, True), candle(7.70, True), candle(7.61, True)),
    (candle(7.61, False), candle(7.70, False), candle(7.70, False)),
    (candle(7.61, False), candle(7.65, True), candle(7.65, True)),
])  # fmt: skip
async def test_upsert_statement_itself_keeps_closed_candles_final(
    sql_url: str, engine: AsyncEngine, stored: Candle, incoming: Candle, kept: Candle
) -> None:
    """A writer racing past the lookup still cannot reopen or rewrite a closed candle."""
    store = await SqlMarketStore.open(sql_url)
    try:
        await store.write(stored.dataset, [stored])
        async with engine.begin() as conn:
            await row_writer(engine.dialect).insert(conn, DatasetKind.CANDLES, [incoming])
        assert await store.latest(stored.dataset) == [kept]
    finally:
        await store.close()


async def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    store = await SqlMarketStore.open(sqlite_url)
    await store.close()
    plain = create_async_engine(sqlite_url)
    try:
        async with plain.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
    finally:
        await plain.dispose()
    assert mode == "wal"


def test_bound_time_text_is_the_text_sqlalchemy_writes_and_reads() -> None:
    """Times are bound as text made by hand; it must match SQLAlchemy's own to the byte."""
    rng = random.Random(7)
    edges = [0, 1, 999, -1, -86_400_001, T0, 1_709_251_199_999, MAX_TIME_MS]
    same_seconds = range(T0, T0 + 3_000, 7)
    millis = [*edges, *same_seconds] + [rng.randrange(0, 4_102_444_800_000) for _ in range(5_000)]
    sqlalchemy_text = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert sqlalchemy_text is not None
    assert [time_text(ms) for ms in millis] == [sqlalchemy_text(to_naive_utc(ms)) for ms in millis]


async def test_a_large_batch_is_stored_whole_and_once(sql_url: str) -> None:
    """2,000 rows cross every statement size the SQLite writer splits a batch into."""
    trades = [trade(i, T0 + i * 7) for i in range(2_000)]
    candles = [minute_candle(T0 + i * 60_000, closed=i % 2 == 0) for i in range(1_365)]
    store = await SqlMarketStore.open(sql_url)
    try:
        first = await store.write_many({TRADES: trades, C1M: candles})
        again = await store.write_many({TRADES: trades, C1M: candles})
        stored_trades = (await store.query(TRADES, limit=5_000)).records
        stored_candles = (await store.query(C1M, limit=5_000)).records
    finally:
        await store.close()
    assert (first[TRADES].inserted, first[C1M].inserted) == (2_000, 1_365)
    assert (again[TRADES].inserted, again[C1M].inserted, again[C1M].updated) == (0, 0, 0)
    assert (stored_trades, stored_candles) == (trades, candles)


async def test_a_time_past_year_9999_is_refused_and_nothing_of_its_batch_is_written(
    sql_url: str,
) -> None:
    """Not an outage: the ingestor dead-letters a refused record and stores the rest."""
    kept = trade(1, T0)
    store = await SqlMarketStore.open(sql_url)
    try:
        await store.write(TRADES, [kept])
        with pytest.raises(StoreError) as refused:
            await store.write(TRADES, [trade(2, T0 + 1), trade(3, MAX_TIME_MS + 1)])
        stored = (await store.query(TRADES, limit=10)).records
    finally:
        await store.close()
    assert not isinstance(refused.value, StoreUnavailable)
    assert "OverflowError" in str(refused.value)
    assert stored == [kept]
