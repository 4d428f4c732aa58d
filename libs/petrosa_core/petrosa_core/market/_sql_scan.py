"""Columnar reads of the SQL market store: the range query's rows straight into Arrow.

The statement is the one ``query`` runs (same filter, order, keyset cursor and limit);
only the driver differs, chosen by measurement (1M candles into Arrow on this suite's
benchmark machine; see docs/market-store.md):

- SQLite: ADBC's SQLite driver. It bundles its own SQLite library, and two SQLite
  libraries in one process do not see each other's POSIX locks (closing one's file
  descriptor drops the other's locks), which can corrupt a database that the process
  writes through aiosqlite. So ADBC runs in reader processes of its own
  (``_sqlite_reader``), each with a persistent read-only connection.
- MariaDB/MySQL: connectorx, which reads the binary protocol into Arrow in Rust without
  holding the GIL. It takes no bound parameters, so the statement is rendered with
  literal values by SQLAlchemy's MySQL compiler (which quotes and escapes them); every
  value is a validated symbol, interval, trade type, time or integer anyway.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from petrosa_core.errors import StoreUnavailable
from petrosa_core.market import _sql_query as q
from petrosa_core.market._sql_tables import TABLES
from petrosa_core.market._sqlite_reader import SqliteReaders
from petrosa_core.market.columns import arrow_schema, conform
from petrosa_core.market.protocol import Order
from petrosa_core.models import DatasetId, DatasetKind

if TYPE_CHECKING:
    import pyarrow as pa

# Suffix of the flag column that carries a nullable column's nulls past ADBC.
_NULL = "__null"
_MYSQL = mysql.dialect()
_SQLITE = sqlite.dialect()
# What a coalesced null reads as, of the column's own type (``0`` would make a float an int).
_NULL_STANDIN = {"double": "0.0", "int64": "0", "bool": "0"}


def statement(
    dataset: DatasetId,
    start: int | None,
    end: int | None,
    *,
    order: Order,
    limit: int | None,
    cursor: str | None,
    trade_type: str | None,
    flag_nulls: bool,
) -> sa.Select[Any]:
    """``query``'s statement; with ``flag_nulls``, nullable columns come as value + flag.

    ADBC's SQLite driver guesses each column's type from the first rows it reads, so a
    column whose first rows are all NULL gets a wrong type and fails later. A coalesced
    value plus an ``IS NULL`` flag always has a type; ``restore_nulls`` puts the nulls back.
    """
    clauses = q.where(dataset, start, end, trade_type)
    if cursor is not None:
        clauses.append(q.after_cursor(dataset.kind, cursor, order))
    table = TABLES[dataset.kind]
    columns: list[Any] = []
    for field in arrow_schema(dataset.kind):
        column = table.c[field.name]
        if flag_nulls and field.nullable:
            default = _NULL_STANDIN.get(str(field.type), "''")
            columns.append(sa.func.coalesce(column, sa.literal_column(default)).label(field.name))
            columns.append(column.is_(None).label(field.name + _NULL))
        else:
            columns.append(column)
    stmt = sa.select(*columns).where(*clauses).order_by(*q.ordering(dataset.kind, order))
    return stmt if limit is None else stmt.limit(limit)


def restore_nulls(table: pa.Table) -> pa.Table:
    """Turn each value + flag pair of ``statement(flag_nulls=True)`` back into one column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in [n for n in table.column_names if n.endswith(_NULL)]:
        base = name[: -len(_NULL)]
        values = table.column(base)
        restored = pc.if_else(
            pc.not_equal(table.column(name), 0), pa.scalar(None, values.type), values
        )
        table = table.set_column(table.schema.get_field_index(base), base, restored)
        table = table.drop_columns([name])
    return table


def decode_levels(table: pa.Table, kind: DatasetKind) -> pa.Table:
    """Depth levels are stored as JSON text; Arrow wants them as lists of [price, qty]."""
    if kind is not DatasetKind.DEPTH:
        return table
    import polars as pl
    import pyarrow as pa

    levels = pl.List(pl.List(pl.Float64))
    for name in ("bids", "asks"):
        text = pl.from_arrow(table.column(name).cast(pa.large_string()))
        assert isinstance(text, pl.Series)
        decoded = text.str.json_decode(levels).to_arrow().cast(pa.list_(pa.list_(pa.float64())))
        table = table.set_column(table.schema.get_field_index(name), name, decoded)
    return table


def finish(table: pa.Table, kind: DatasetKind) -> pa.Table:
    """A driver's answer in the kind's Arrow schema."""
    return conform(decode_levels(restore_nulls(table), kind), arrow_schema(kind))


def _bound(value: Any) -> Any:
    # SQLAlchemy's own SQLite DATETIME text, which the stored values use.
    return value.isoformat(" ", "microseconds") if isinstance(value, datetime) else value


# -- SQLite through ADBC, in reader processes (``_sqlite_reader``) ----------------------


class SqliteScans:
    """Statements compiled for SQLite with bound parameters, run by the reader processes."""

    def __init__(self, path: str) -> None:
        self.readers = SqliteReaders(path)

    async def warm(self) -> None:
        await self.readers.warm()

    async def fetch(self, stmt: sa.Select[Any]) -> pa.Table:
        compiled = stmt.compile(dialect=_SQLITE)
        params = [_bound(compiled.params[name]) for name in compiled.positiontup or ()]
        return await self.readers.fetch(str(compiled), params)

    async def close(self) -> None:
        await self.readers.close()


# -- MariaDB/MySQL through connectorx ---------------------------------------------------


class MysqlReader:
    """connectorx on the engine's server and credentials; a connection per read."""

    def __init__(self, engine: AsyncEngine) -> None:
        url = engine.url
        self._url = sa.URL.create(
            "mysql",
            username=url.username,
            password=url.password,
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            database=url.database,
        ).render_as_string(hide_password=False)

    async def warm(self) -> None:
        """Load connectorx (most of a second) before the first scan needs it."""
        await asyncio.to_thread(importlib.import_module, "connectorx")

    async def close(self) -> None:
        """Nothing held: connectorx connects per read."""

    async def fetch(self, stmt: sa.Select[Any]) -> pa.Table:
        sql = str(stmt.compile(dialect=_MYSQL, compile_kwargs={"literal_binds": True}))
        try:
            return await asyncio.to_thread(self._read, sql)
        except Exception as exc:
            raise StoreUnavailable(f"columnar read from MariaDB failed: {exc}") from exc

    def _read(self, sql: str) -> pa.Table:
        import connectorx

        return connectorx.read_sql(self._url, sql, return_type="arrow")


def reader_for(engine: AsyncEngine) -> SqliteScans | MysqlReader | None:
    """The columnar reader of an engine; ``None`` where only the row path can read."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return SqliteScans(os.path.abspath(path))
    if engine.url.query:
        # Driver options (TLS, a socket path) are asyncmy's; connectorx would connect
        # without them, so such a store reads through ``query`` rather than downgrade.
        return None
    return MysqlReader(engine)
