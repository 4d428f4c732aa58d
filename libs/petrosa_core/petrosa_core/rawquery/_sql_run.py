"""Running an admitted query so that even one that slipped past the guard cannot write or hang.

SQLite: a connection of its own opened ``mode=ro`` with ``PRAGMA query_only``, and a
progress handler that interrupts the statement at its deadline. MariaDB: a pool of its own
whose sessions are ``READ ONLY``, each query inside ``START TRANSACTION READ ONLY`` under
``max_statement_time``, always rolled back. Both fetch at most ``row_cap + 1`` rows.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from petrosa_core._sql import create_engine, mysql_code
from petrosa_core.errors import StoreUnavailable, ValidationError

# SQLite calls the progress handler every this many virtual-machine steps: often enough to
# stop within milliseconds of the deadline, rarely enough to cost nothing measurable.
_PROGRESS_STEPS = 1_000
# MariaDB: ER_STATEMENT_TIMEOUT, and "query execution was interrupted".
_MYSQL_TIMEOUTS = frozenset({1969, 1317, 3024})


@dataclass(frozen=True)
class RawResult:
    """Rows as dicts, the column names, and whether more rows existed past the cap."""

    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool


def _timed_out(seconds: float) -> ValidationError:
    return ValidationError("query_timeout", f"the query ran past {seconds:g} s and was stopped")


def _failed(message: str) -> ValidationError:
    return ValidationError("query_failed", f"the database refused the query: {message[:300]}")


def _result(columns: list[str], rows: list[Any], cap: int) -> RawResult:
    return RawResult(
        columns, [dict(zip(columns, row, strict=True)) for row in rows[:cap]], len(rows) > cap
    )


class SqliteReader:
    """Read-only queries on one SQLite file, each on a fresh read-only connection."""

    def __init__(self, path: str) -> None:
        self._uri = f"file:{quote(path)}?mode=ro"

    async def run(
        self, sql: str, params: Mapping[str, Any], row_cap: int, time_limit: float
    ) -> RawResult:
        return await asyncio.to_thread(self._run, sql, dict(params), row_cap, time_limit)

    def _run(self, sql: str, params: dict[str, Any], row_cap: int, time_limit: float) -> RawResult:
        try:
            conn = sqlite3.connect(self._uri, uri=True, timeout=time_limit, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the SQLite file read-only: {exc}") from exc
        deadline = time.monotonic() + time_limit
        try:
            conn.execute("PRAGMA query_only=ON")
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_STEPS)
            cursor = conn.execute(sql, params)
            columns = [d[0] for d in cursor.description or ()]
            return _result(columns, cursor.fetchmany(row_cap + 1), row_cap)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise _timed_out(time_limit) from None
            raise _failed(str(exc)) from None
        except sqlite3.Error as exc:
            raise _failed(str(exc)) from None
        finally:
            conn.rollback()
            conn.close()

    async def close(self) -> None:
        return None


class MysqlReader:
    """Read-only queries on MariaDB through a small pool used for nothing else."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> MysqlReader:
        return cls(create_engine(url, "raw query store"))

    async def run(
        self, sql: str, params: Mapping[str, Any], row_cap: int, time_limit: float
    ) -> RawResult:
        try:
            # The server stops the statement; the client's own deadline only covers a hang.
            async with asyncio.timeout(time_limit + 5):
                return await self._run(sql, params, row_cap, time_limit)
        except TimeoutError:
            raise _timed_out(time_limit) from None
        except sa_exc.DBAPIError as exc:
            if mysql_code(exc) in _MYSQL_TIMEOUTS:
                raise _timed_out(time_limit) from None
            if isinstance(exc, sa_exc.OperationalError) and mysql_code(exc) in (2003, 2006, 2013):
                raise StoreUnavailable(f"MariaDB cannot be reached: {exc.orig}") from None
            raise _failed(str(exc.orig)) from None
        except sa_exc.StatementError as exc:
            raise _failed(str(exc.orig)) from None

    async def _run(
        self, sql: str, params: Mapping[str, Any], row_cap: int, time_limit: float
    ) -> RawResult:
        async with self._engine.connect() as conn:
            await conn.exec_driver_sql(f"SET SESSION max_statement_time = {float(time_limit):.3f}")
            await conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
            await conn.exec_driver_sql("START TRANSACTION READ ONLY")
            try:
                result = await conn.execute(sa.text(sql), dict(params))
                columns = list(result.keys())
                rows = result.fetchmany(row_cap + 1)
            finally:
                await conn.rollback()
        return _result(columns, [tuple(r) for r in rows], row_cap)

    async def close(self) -> None:
        await self._engine.dispose()


SqlReader = SqliteReader | MysqlReader


def open_reader(url: str) -> SqlReader:
    """A reader on the database of a store's URL."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteReader(parsed.database or ":memory:")
    return MysqlReader.open(url)
