"""Columnar reads of the SQL market store: the range query's rows straight into Arrow.

The statement is the one ``query`` runs (same filter, order, keyset cursor and limit);
only the driver differs, chosen by measurement (1M candles into Arrow on this suite's
benchmark machine; see docs/runtime.md):

- SQLite: ADBC's SQLite driver. It bundles its own SQLite library, and two SQLite
  libraries in one process do not see each other's POSIX locks (closing one's file
  descriptor drops the other's locks), which can corrupt a database that the process
  writes through aiosqlite. So ADBC runs in reader processes of its own, each with a
  persistent read-only connection, and hands tables back as Arrow IPC.
- MariaDB/MySQL: connectorx, which reads the binary protocol into Arrow in Rust without
  holding the GIL. It takes no bound parameters, so the statement is rendered with
  literal values by SQLAlchemy's MySQL compiler (which quotes and escapes them); every
  value is a validated symbol, interval, trade type, time or integer anyway.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from petrosa_core.errors import StoreError, StoreUnavailable
from petrosa_core.market import _sql_query as q
from petrosa_core.market._sql_tables import TABLES
from petrosa_core.market.columns import arrow_schema, conform
from petrosa_core.market.protocol import Order
from petrosa_core.models import DatasetId, DatasetKind

if TYPE_CHECKING:
    import pyarrow as pa

# Tables larger than this travel from a reader process through a file in shared memory
# (memory-mapped by the caller, no copy); smaller ones through the process pipe.
_PIPE_BYTES = 1 << 20
# Suffix of the flag column that carries a nullable column's nulls past ADBC.
_NULL = "__null"
_MYSQL = mysql.dialect()
_SQLITE = sqlite.dialect()
# What a coalesced null reads as, of the column's own type (``0`` would make a float an int).
_NULL_STANDIN = {"double": "0.0", "int64": "0", "bool": "0"}
# Reader processes per SQLite database: two keep one slow range from stalling every page.
SQLITE_READERS = 2


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


# -- SQLite through ADBC, in reader processes -------------------------------------------

_reader: Any = None


def _open_reader(path: str) -> None:
    """Pool initializer: one read-only ADBC connection for the life of the process."""
    global _reader
    import adbc_driver_sqlite.dbapi as adbc

    _reader = adbc.connect(f"file:{path}?mode=ro", autocommit=True)


def _read(sql: str, params: Sequence[Any], spill_dir: str) -> tuple[str, Any]:
    """Run ``sql`` and hand its table back as IPC bytes, or a file path when large."""
    import pyarrow as pa

    cursor = _reader.cursor()
    try:
        cursor.execute(sql, list(params))
        table = cursor.fetch_arrow_table()
    finally:
        cursor.close()
    if table.nbytes <= _PIPE_BYTES:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return "bytes", sink.getvalue().to_pybytes()
    fd, path = tempfile.mkstemp(prefix="petrosa-scan-", suffix=".arrow", dir=spill_dir)
    with os.fdopen(fd, "wb") as file, pa.ipc.new_stream(file, table.schema) as writer:
        writer.write_table(table)
    return "file", path


def _load(answer: tuple[str, Any]) -> pa.Table:
    import pyarrow as pa

    how, payload = answer
    if how == "bytes":
        return pa.ipc.open_stream(payload).read_all()
    try:
        # Mapped, not read: the table's buffers are the file's pages, which outlive the name.
        return pa.ipc.open_stream(pa.memory_map(payload)).read_all()
    finally:
        os.unlink(payload)


def _spill_dir() -> str:
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()


class SqliteReaders:
    """A small pool of ADBC reader processes on one SQLite file, started on first use."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._spill = _spill_dir()

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # forkserver: the readers never inherit this process's SQLite handles. It
                # preloads this module only, not the caller's main module, whose import
                # could start a whole service (``python -m petrosa_auditor``).
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__])
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    SQLITE_READERS,
                    mp_context=context,
                    initializer=_open_reader,
                    initargs=(self._path,),
                )
            return self._pool

    async def fetch(self, stmt: sa.Select[Any]) -> pa.Table:
        compiled = stmt.compile(dialect=_SQLITE)
        params = [_bound(compiled.params[name]) for name in compiled.positiontup or ()]
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(
                self._executor(), _read, str(compiled), params, self._spill
            )
        except concurrent.futures.process.BrokenProcessPool as exc:
            self._reset()
            raise StoreUnavailable(f"a SQLite reader process died: {exc}") from exc
        except Exception as exc:
            raise _classified(exc) from exc
        return _load(answer)

    def _reset(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._reset()


def _classified(exc: Exception) -> StoreError:
    """ADBC's errors follow PEP 249: an operational error is an outage, others a fault."""
    name = type(exc).__name__
    if name in ("OperationalError", "InternalError", "InterfaceError") or isinstance(exc, OSError):
        return StoreUnavailable(f"columnar read failed: {exc}")
    return StoreError(f"columnar read failed: {name}: {exc}")


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

    async def fetch(self, stmt: sa.Select[Any]) -> pa.Table:
        sql = str(stmt.compile(dialect=_MYSQL, compile_kwargs={"literal_binds": True}))
        try:
            return await asyncio.to_thread(self._read, sql)
        except Exception as exc:
            raise StoreUnavailable(f"columnar read from MariaDB failed: {exc}") from exc

    def _read(self, sql: str) -> pa.Table:
        import connectorx

        return connectorx.read_sql(self._url, sql, return_type="arrow")


def reader_for(engine: AsyncEngine) -> SqliteReaders | MysqlReader | None:
    """The columnar reader of an engine; ``None`` for an in-memory SQLite database."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return SqliteReaders(os.path.abspath(path))
    return MysqlReader(engine)
