"""SQL engines of both stores, and the one boundary where their errors become the suite's own.

SQLite (aiosqlite) and MariaDB/MySQL (asyncmy) through SQLAlchemy's async engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.util import CommandError
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from petrosa_core.errors import ConfigError, RecordRejected, StoreError, StoreUnavailable

# asyncmy.constants.CLIENT.FOUND_ROWS; not imported, so SQLite-only processes skip asyncmy.
_CLIENT_FOUND_ROWS = 2

# Seconds a SQLite writer waits for another process's write lock before giving up; the
# services of one machine share the files, so several processes write at once.
SQLITE_BUSY_TIMEOUT = 15.0
# Seconds to reach MariaDB before a probe or a write reports the store unavailable.
_MYSQL_CONNECT_TIMEOUT = 10
# Below MariaDB's default wait_timeout (8 h) and any proxy's idle cut-off.
_POOL_RECYCLE_SECONDS = 3600
# MariaDB errors about a value: out of range, truncated, too long, incorrect, check failed.
# The driver files some of them under OperationalError, which otherwise means an outage.
_MYSQL_RECORD_ERRORS = frozenset({1048, 1264, 1265, 1292, 1366, 1406, 3819, 4025})


def create_engine(url: str, setting: str, *, changed_rows: bool = False) -> AsyncEngine:
    """An engine for ``url``, which the variable ``setting`` gave; nothing connects yet.

    ``changed_rows`` makes MariaDB's rowcount count changed rows rather than matched ones.
    """
    try:
        parsed = sa.make_url(url)
    except sa_exc.ArgumentError as exc:
        raise ConfigError(f"{setting} is not a database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    options: dict[str, Any] = {}
    if parsed.get_driver_name() == "asyncmy":
        options["connect_args"] = {"connect_timeout": _MYSQL_CONNECT_TIMEOUT}
    engine = create_async_engine(
        parsed, pool_pre_ping=True, pool_recycle=_POOL_RECYCLE_SECONDS, **options
    )
    if changed_rows:
        sa.event.listen(engine.sync_engine, "do_connect", _count_changed_rows)
    return engine


def _count_changed_rows(_dialect: Any, _record: Any, _args: Any, kwargs: dict[str, Any]) -> None:
    # SQLAlchemy asks for FOUND_ROWS (matched rows); without it, a duplicate that a no-op
    # upsert leaves alone counts 0, so rowcount equals the rows inserted.
    kwargs["client_flag"] = kwargs.get("client_flag", 0) & ~_CLIENT_FOUND_ROWS


def _sqlite_engine(url: sa.URL) -> AsyncEngine:
    if url.database and url.database != ":memory:":
        try:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the folder of {url.database}: {exc}") from exc
    # sqlite3's timeout is SQLite's busy timeout: a locked database is retried, not refused.
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
    sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer, in this process and others; NORMAL syncs at
    # checkpoints, not every commit, and with WAL still never corrupts the file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def describe_pool(engine: AsyncEngine) -> dict[str, Any]:
    """The backend and what its connection pool reports; nothing here touches the database."""
    pool = engine.pool
    status: dict[str, Any] = {
        "backend": engine.dialect.name,
        "pool_class": type(pool).__name__,
        "status": pool.status(),
    }
    for name in ("size", "checkedin", "checkedout", "overflow"):
        reading = getattr(pool, name, None)
        if callable(reading):
            status[name] = reading()
    return status


def mysql_code(exc: BaseException) -> int | None:
    """MariaDB's error number behind a SQLAlchemy error, if there is one."""
    args = getattr(getattr(exc, "orig", None), "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def classify(exc: Exception) -> StoreError:
    """Classify by what the failure means for the whole store, per PEP 249's classes.

    Only integrity and data errors (and MariaDB's codes for a value a column cannot hold)
    are about one record; a programming error is a bug; everything else (operational,
    internal and interface errors: a full or read-only disk, an I/O error, a lost
    connection, a lock) means the store cannot write now, whatever its message says.
    """
    if isinstance(exc, sa_exc.DBAPIError):
        message = f"{type(exc.orig).__name__}: {exc.orig}"
        if exc.connection_invalidated:
            return StoreUnavailable(message)
        if isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError):
            return RecordRejected(message)
        if mysql_code(exc) in _MYSQL_RECORD_ERRORS:
            return RecordRejected(message)
        if isinstance(exc, sa_exc.ProgrammingError | sa_exc.NotSupportedError):
            return StoreError(message)
        return StoreUnavailable(message)
    if isinstance(exc, OSError | TimeoutError | sa_exc.TimeoutError):
        return StoreUnavailable(f"{type(exc).__name__}: {exc}")
    return StoreError(f"{type(exc).__name__}: {exc}")


@contextmanager
def translated() -> Iterator[None]:
    """The one boundary where driver and SQLAlchemy errors become the suite's own."""
    try:
        yield
    except (sa_exc.SQLAlchemyError, CommandError, OSError, TimeoutError) as exc:
        raise classify(exc) from exc
    except OverflowError as exc:  # a time past 9999 or an int past int64: a refused record
        raise RecordRejected(f"OverflowError: {exc}") from exc
