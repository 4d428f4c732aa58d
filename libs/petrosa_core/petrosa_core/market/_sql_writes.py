"""The INSERT statements of the SQL market store, one writer per dialect.

Non-candle kinds keep the first version of a key (conflicts are ignored); candles are
upserted, and the statement itself never touches a closed candle.

SQLite gets multi-row statements: its driver releases and retakes the GIL around every
row it executes, so an ``executemany`` of thousands of rows queues for the GIL behind a
busy event loop. Measured on a 5,000-frame batch beside a thread that never waits: over
20 s with ``executemany``, about 4 s with these statements (0.06-0.08 s either way alone).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from petrosa_core.market._sql_tables import CODECS, TABLES
from petrosa_core.models import DatasetKind, Record, Trade

# Rows per SQLite statement, largest first. Every batch splits into these few shapes, so
# the driver's statement cache holds them all; 1024 rows of the widest kind (tickers,
# 20 columns) stay under SQLite's 32,766 bound-parameter limit.
_SQLITE_CHUNKS = (1024, 256, 64, 16, 4, 1)


class RowWriter(Protocol):
    """Inserts records of one kind inside an open transaction; returns the rows changed."""

    async def insert(
        self, conn: AsyncConnection, kind: DatasetKind, records: Sequence[Record]
    ) -> int: ...


def row_writer(dialect: sa.Dialect) -> RowWriter:
    return SqliteWriter() if dialect.name == "sqlite" else ExecutemanyWriter(dialect)


class ExecutemanyWriter:
    """One prepared INSERT per kind, executed over row tuples (asyncmy batches them)."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self._sql = {kind: insert_sql(dialect, kind) for kind in DatasetKind}

    async def insert(
        self, conn: AsyncConnection, kind: DatasetKind, records: Sequence[Record]
    ) -> int:
        codec = CODECS[kind]
        # Key order keeps row locks in one order across concurrent MariaDB writers.
        rows = [codec.to_params(r) for r in sorted(records, key=_natural_key)]
        return int((await conn.exec_driver_sql(self._sql[kind], rows)).rowcount)


class SqliteWriter:
    """Multi-row ``INSERT ... VALUES (...), (...)`` statements in a few fixed sizes.

    SQLite's write lock is exclusive, so unlike MariaDB no row order is needed.
    """

    def __init__(self) -> None:
        self._sql: dict[tuple[DatasetKind, int], str] = {}
        for kind in DatasetKind:
            one_row = insert_sql(sqlite.dialect(), kind)
            for size in _SQLITE_CHUNKS:
                self._sql[kind, size] = _with_rows(one_row, size)

    async def insert(
        self, conn: AsyncConnection, kind: DatasetKind, records: Sequence[Record]
    ) -> int:
        codec = CODECS[kind]
        rows = [codec.to_params(r) for r in records]
        changed = 0
        for size, chunk in _chunks(rows):
            params = tuple(itertools.chain.from_iterable(chunk))
            changed += (await conn.exec_driver_sql(self._sql[kind, size], params)).rowcount
        return changed


def _chunks(rows: list[tuple[Any, ...]]) -> Iterator[tuple[int, list[tuple[Any, ...]]]]:
    start = 0
    for size in _SQLITE_CHUNKS:
        while len(rows) - start >= size:
            yield size, rows[start : start + size]
            start += size


def _with_rows(one_row: str, rows: int) -> str:
    """The one-row statement ``one_row`` with ``rows`` rows in its VALUES clause."""
    insert, values_and_conflict = one_row.split(" VALUES ", 1)
    row, conflict = values_and_conflict.split(")", 1)
    return f"{insert} VALUES {', '.join([row + ')'] * rows)}{conflict}"


def insert_sql(dialect: sa.Dialect, kind: DatasetKind) -> str:
    """Positional INSERT text for row tuples in record field order.

    Compiled once: SQLAlchemy's per-row bind processing would cost more than the database.
    """
    compiled = _upsert(dialect.name, kind).compile(dialect=dialect)
    if tuple(compiled.positiontup or ()) != CODECS[kind].names:
        raise AssertionError(f"{kind} table columns are not in record field order")
    return str(compiled)


def _upsert(dialect: str, kind: DatasetKind) -> sa.Insert:
    """Insert new keys; replace only open candles; leave everything else as stored."""
    table = TABLES[kind]
    if dialect == "sqlite":
        lite = sqlite.insert(table)
        if kind is not DatasetKind.CANDLES:
            return lite.on_conflict_do_nothing()
        updates = {c.name: lite.excluded[c.name] for c in table.c if not c.primary_key}
        return lite.on_conflict_do_update(
            index_elements=list(table.primary_key), set_=updates, where=~table.c.is_closed
        )
    my = mysql.insert(table)
    if kind is not DatasetKind.CANDLES:
        # A no-op update, not INSERT IGNORE: that would also hide data errors and make
        # asyncmy log a warning per duplicate. Affects 0 rows without FOUND_ROWS.
        first = table.primary_key.columns[0]
        return my.on_duplicate_key_update([(first.name, first)])
    # MariaDB assigns left to right, so is_closed goes last: the others must see the old flag.
    columns = [c for c in table.c if not c.primary_key and c.name != "is_closed"]
    columns.append(table.c.is_closed)
    return my.on_duplicate_key_update(
        [(c.name, sa.case((table.c.is_closed, c), else_=my.inserted[c.name])) for c in columns]
    )


def _natural_key(record: Record) -> tuple[str, int]:
    return (record.trade_type if isinstance(record, Trade) else "", record.key)
