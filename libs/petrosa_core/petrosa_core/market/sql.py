"""MarketStore on SQL with SQLAlchemy Core: SQLite (aiosqlite) and MariaDB/MySQL (asyncmy).

Non-candle kinds keep the first version of a key: one conflict-ignoring executemany, whose
row count is the number inserted. Candles may be replaced while open, so a candle batch
first reads the stored versions of its keys, applies the batch to them in order in Python,
and upserts only the changed rows; the upsert itself never touches a closed candle, so a
concurrent writer can skew the counts but never the data.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_random_exponential

from petrosa_core._sql import create_engine, describe_pool, mysql_code, translated
from petrosa_core.errors import StoreError, StoreUnavailable
from petrosa_core.intervals import DAY_MS, FIXED_INTERVAL_MS
from petrosa_core.market import _sql_query as q
from petrosa_core.market import _sql_scan
from petrosa_core.market._rules import check_batch, check_limit, check_order
from petrosa_core.market._sql_analytics import SqlAnalytics
from petrosa_core.market._sql_tables import CODECS, TABLES
from petrosa_core.market._sql_writes import row_writer
from petrosa_core.market.columns import (
    BATCH_ROWS,
    ArrowPage,
    check_scan,
    empty_table,
    in_batches,
    page_of,
    records_to_table,
)
from petrosa_core.market.protocol import DatasetInfo, Order, Page, WriteResult
from petrosa_core.migrations import upgrade
from petrosa_core.models import KIND_SPECS, Candle, DatasetId, DatasetKind, Record
from petrosa_core.times import to_ms, to_naive_utc

if TYPE_CHECKING:
    import pyarrow as pa

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "market_alembic_version"
# Candle keys per IN-list lookup: under SQLite's 32,766 bound-variable limit.
_KEY_CHUNK = 5_000
# MariaDB: lock wait timeout, deadlock found; both are safe to retry as a whole batch.
_MYSQL_RETRYABLE = frozenset({1205, 1213})


# A deadlock aborts the whole transaction, so the whole batch is retried.
_retry_deadlocks = retry(
    retry=retry_if_exception(lambda e: mysql_code(e) in _MYSQL_RETRYABLE),
    stop=stop_after_attempt(4),
    wait=wait_random_exponential(0.01, max=0.25),
    reraise=True,
)


class SqlMarketStore(SqlAnalytics):
    """A MarketStore over one SQLAlchemy async engine; open it with ``await open(url)``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._rows = row_writer(engine.dialect)
        self._columnar = _sql_scan.reader_for(engine)

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> SqlMarketStore:
        """Connect and, unless ``migrate`` is false, bring the tables up to date."""
        store = cls(create_engine(url, "MARKET_STORE_URL", changed_rows=True))
        try:
            if migrate:
                with translated():
                    await upgrade(store._engine, MIGRATIONS, VERSION_TABLE)
        except BaseException:
            await store.close()
            raise
        return store

    async def write(self, dataset: DatasetId, records: Sequence[Record]) -> WriteResult:
        return (await self.write_many({dataset: records}))[dataset]

    async def write_many(
        self, groups: Mapping[DatasetId, Sequence[Record]]
    ) -> dict[DatasetId, WriteResult]:
        for dataset, records in groups.items():
            check_batch(dataset, records)
        with translated():
            return await self._write_groups(groups)

    @_retry_deadlocks
    async def _write_groups(
        self, groups: Mapping[DatasetId, Sequence[Record]]
    ) -> dict[DatasetId, WriteResult]:
        # Dataset order keeps table locks in one order across concurrent MariaDB writers.
        results = {dataset: WriteResult(0, 0, 0) for dataset in groups}
        async with self._begin_write() as conn:
            for dataset in sorted((d for d in groups if groups[d]), key=str):
                results[dataset] = await self._write_in(conn, dataset, groups[dataset])
        return results

    async def _write_in(
        self, conn: AsyncConnection, dataset: DatasetId, records: Sequence[Record]
    ) -> WriteResult:
        if dataset.kind is DatasetKind.CANDLES:
            return await self._candles_in(conn, dataset, cast(Sequence[Candle], records))
        inserted = await self._rows.insert(conn, dataset.kind, records)
        return WriteResult(inserted, 0, len(records) - inserted)

    async def _candles_in(
        self, conn: AsyncConnection, dataset: DatasetId, candles: Sequence[Candle]
    ) -> WriteResult:
        plan = _plan(candles, await self._stored_candles(conn, dataset, candles))
        if plan.changed:
            await self._rows.insert(conn, DatasetKind.CANDLES, plan.changed)
        return plan.result

    async def _stored_candles(
        self, conn: AsyncConnection, dataset: DatasetId, candles: Sequence[Candle]
    ) -> dict[int, Candle]:
        """The stored versions of the batch's candles, by open time."""
        wanted = sorted({c.open_time for c in candles})
        codec, table = CODECS[DatasetKind.CANDLES], TABLES[DatasetKind.CANDLES]
        select = sa.select(*(table.c[name] for name in codec.names)).where(*q.where(dataset))
        found: dict[int, Candle] = {}
        for selector in _candle_selectors(dataset, wanted):
            for row in await conn.execute(select.where(selector)):
                candle = cast(Candle, codec.to_record(row))
                found[candle.open_time] = candle
        return {key: found[key] for key in wanted if key in found}

    async def query(
        self,
        dataset: DatasetId,
        start: int | None = None,
        end: int | None = None,
        *,
        order: Order = "asc",
        limit: int = 1000,
        cursor: str | None = None,
        trade_type: str | None = None,
    ) -> Page:
        check_limit(limit)
        check_order(order)
        clauses = q.where(dataset, start, end, trade_type)
        if cursor is not None:
            clauses.append(q.after_cursor(dataset.kind, cursor, order))
        codec, table = CODECS[dataset.kind], TABLES[dataset.kind]
        stmt = (
            sa.select(*(table.c[name] for name in codec.names))
            .where(*clauses)
            .order_by(*q.ordering(dataset.kind, order))
            .limit(limit + 1)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        records = [codec.to_record(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(records, q.encode_cursor(dataset.kind, records[-1]) if more else None)

    async def scan(
        self,
        dataset: DatasetId,
        start: int | None = None,
        end: int | None = None,
        *,
        order: Order = "asc",
        limit: int | None = 1000,
        cursor: str | None = None,
        trade_type: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> ArrowPage:
        check_scan(dataset, order, limit, trade_type, columns)
        if self._columnar is None:
            return await self._scan_rows(
                dataset, start, end, order, limit, cursor, trade_type, columns
            )
        with translated():
            stmt = _sql_scan.statement(
                dataset,
                start,
                end,
                order=order,
                limit=None if limit is None else limit + 1,
                cursor=cursor,
                trade_type=trade_type,
                flag_nulls=self._sqlite,
            )
        table = _sql_scan.finish(await self._columnar.fetch(stmt), dataset.kind)
        return page_of(table, limit, columns, functools.partial(_cursor_of, dataset.kind))

    async def _scan_rows(
        self,
        dataset: DatasetId,
        start: int | None,
        end: int | None,
        order: Order,
        limit: int | None,
        cursor: str | None,
        trade_type: str | None,
        columns: Sequence[str] | None,
    ) -> ArrowPage:
        """An in-memory database, which no reader process can open: rows, then Arrow."""
        records: list[Record] = []
        while limit is None or len(records) < limit:
            want = MAX_QUERY if limit is None else min(MAX_QUERY, limit - len(records))
            page = await self.query(
                dataset, start, end, order=order, limit=want, cursor=cursor, trade_type=trade_type
            )
            records.extend(page.records)
            cursor = page.next_cursor
            if cursor is None:
                break
        if not records:
            return ArrowPage(empty_table(dataset.kind, columns), None)
        return ArrowPage(records_to_table(dataset.kind, records, columns), cursor)

    async def scan_batches(
        self,
        dataset: DatasetId,
        start: int | None = None,
        end: int | None = None,
        *,
        trade_type: str | None = None,
        columns: Sequence[str] | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> AsyncIterator[pa.Table]:
        scan = functools.partial(
            self.scan, dataset, start, end, trade_type=trade_type, columns=columns
        )
        async for table in in_batches(scan, batch_rows):
            yield table

    async def warm(self) -> None:
        if self._columnar is not None:
            await self._columnar.warm()

    async def latest(self, dataset: DatasetId, n: int = 1) -> list[Record]:
        return (await self.query(dataset, order="desc", limit=n)).records

    async def count(
        self, dataset: DatasetId, start: int | None = None, end: int | None = None
    ) -> int:
        stmt = sa.select(sa.func.count()).select_from(TABLES[dataset.kind])
        async with self._read() as conn:
            return int(await conn.scalar(stmt.where(*q.where(dataset, start, end))) or 0)

    async def keys(
        self,
        dataset: DatasetId,
        start: int | None = None,
        end: int | None = None,
        *,
        trade_type: str | None = None,
    ) -> list[int]:
        column = TABLES[dataset.kind].c[KIND_SPECS[dataset.kind].key_field]
        stmt = (
            sa.select(column)
            .where(*q.where(dataset, start, end, trade_type))
            .order_by(*q.ordering(dataset.kind, "asc"))
        )
        async with self._read() as conn:
            values = (await conn.scalars(stmt)).all()
        return [value if isinstance(value, int) else to_ms(value) for value in values]

    async def delete_range(
        self, dataset: DatasetId, start: int | None = None, end: int | None = None
    ) -> int:
        stmt = sa.delete(TABLES[dataset.kind]).where(*q.where(dataset, start, end))
        with translated():
            async with self._begin_write() as conn:
                return (await conn.execute(stmt)).rowcount

    async def datasets(self) -> list[DatasetInfo]:
        found: list[DatasetInfo] = []
        async with self._read() as conn:
            for kind in DatasetKind:
                found.extend(await _dataset_infos(conn, kind))
        return sorted(found, key=lambda info: str(info.dataset))

    async def ping(self) -> None:
        try:
            async with self._read() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except StoreError as exc:
            raise StoreUnavailable(f"market store does not answer: {exc}") from exc

    def pool_status(self) -> dict[str, Any]:
        return describe_pool(self._engine)

    async def close(self) -> None:
        if self._columnar is not None:
            await self._columnar.close()
        await self._engine.dispose()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        with translated():
            async with self._engine.connect() as conn:
                yield conn

    @asynccontextmanager
    async def _begin_write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction, committed on success, rolled back on error.

        Its errors are left raw, so that the deadlock retry can read MariaDB's numbers.
        """
        async with self._engine.connect() as conn:
            if self._sqlite:
                # Take the write lock first, so a batch's lookup and upsert see one state.
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
            await conn.commit()


# Rows per query page when an in-memory database is scanned row by row.
MAX_QUERY = 10_000


def _cursor_of(kind: DatasetKind, table: pa.Table, row: int) -> str:
    """The cursor ``query`` would hand out after the table's row ``row``."""
    values = {}
    for name in KIND_SPECS[kind].order_fields:
        value = table.column(name)[row]
        values[name] = value.value if name.endswith("_time") else value.as_py()
    return q.encode_cursor(kind, cast(Record, SimpleNamespace(**values)))


class _Plan(NamedTuple):
    changed: list[Candle]
    result: WriteResult


def _plan(candles: Sequence[Candle], stored: dict[int, Candle]) -> _Plan:
    """Apply the batch in order to what is stored; keep the final version of each changed key."""
    state, changed = dict(stored), dict[int, Candle]()
    inserted = updated = 0
    for candle in candles:
        current = state.get(candle.open_time)
        if current is None:
            inserted += 1
        elif not current.is_closed and candle != current:
            updated += 1
        else:
            continue
        state[candle.open_time] = changed[candle.open_time] = candle
    rows = [changed[key] for key in sorted(changed)]  # one lock order for all writers
    return _Plan(rows, WriteResult(inserted, updated, len(candles) - inserted - updated))


def _candle_selectors(dataset: DatasetId, keys: list[int]) -> list[sa.ColumnElement[bool]]:
    """One range when the keys are dense on the interval grid, else chunked IN lists."""
    column = TABLES[DatasetKind.CANDLES].c.open_time
    # 1M has no fixed length; 28 days is its shortest, which overestimates the span.
    step = FIXED_INTERVAL_MS.get(dataset.interval or "", 28 * DAY_MS)
    if (keys[-1] - keys[0]) // step < 2 * len(keys):
        return [column.between(to_naive_utc(keys[0]), to_naive_utc(keys[-1]))]
    return [
        column.in_([to_naive_utc(k) for k in keys[i : i + _KEY_CHUNK]])
        for i in range(0, len(keys), _KEY_CHUNK)
    ]


async def _dataset_infos(conn: AsyncConnection, kind: DatasetKind) -> list[DatasetInfo]:
    table = TABLES[kind]
    groups = [table.c.symbol] + ([table.c.interval] if kind is DatasetKind.CANDLES else [])
    time_column = table.c[KIND_SPECS[kind].time_field]
    stmt = sa.select(
        *groups, sa.func.count(), sa.func.min(time_column), sa.func.max(time_column)
    ).group_by(*groups)
    infos = []
    for row in await conn.execute(stmt):
        interval = row[1] if kind is DatasetKind.CANDLES else None
        count, first, last = row[-3:]
        infos.append(
            DatasetInfo(DatasetId(kind, row[0], interval), int(count), to_ms(first), to_ms(last))
        )
    return infos


__all__ = ["SqlMarketStore"]
