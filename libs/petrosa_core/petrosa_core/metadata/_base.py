"""The engine holder every part of the metadata store shares."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from petrosa_core._sql import translated
from petrosa_core.errors import StoreError, ValidationError
from petrosa_core.times import Clock, now_ms

T = TypeVar("T")

_MYSQL_DUPLICATE_KEY = 1062


def check_text(field: str, value: str, max_length: int) -> None:
    """Refuse empty or over-long text before the database would truncate or reject it."""
    if not value or len(value) > max_length:
        raise ValidationError(f"bad_{field}", f"{field} must be 1..{max_length} characters")


def rows_as(kind: type[T], rows: Iterable[sa.Row[Any]]) -> list[T]:
    return [msgspec.convert(row, kind, from_attributes=True) for row in rows]


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The auto-increment id an INSERT of one row assigned."""
    key = result.inserted_primary_key
    if key is None:
        raise StoreError("the database reported no id for an inserted row")
    return int(key[0])


class SqlBase:
    """Holds the engine and the clock; each method runs in its own short transaction."""

    def __init__(self, engine: AsyncEngine, clock: Clock = now_ms) -> None:
        self._engine = engine
        self._clock = clock

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        with translated():
            async with self._engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        with translated():
            async with self._engine.connect() as conn:
                yield conn

    async def _insert_new(self, table: sa.Table, row: dict[str, Any]) -> bool:
        """Insert ``row`` unless its primary key exists; True if this call inserted it."""
        if self._engine.dialect.name == "sqlite":
            async with self._write() as conn:
                result = await conn.execute(sqlite.insert(table).on_conflict_do_nothing(), row)
            return result.rowcount == 1
        # MySQL's INSERT IGNORE would also hide truncation and log a warning per duplicate.
        with translated():
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(sa.insert(table), row)
            except sa.exc.IntegrityError as exc:
                if exc.orig is None or exc.orig.args[:1] != (_MYSQL_DUPLICATE_KEY,):
                    raise
                return False
        return True

    async def _all(self, kind: type[T], query: sa.Select[Any]) -> list[T]:
        async with self._read() as conn:
            return rows_as(kind, await conn.execute(query))

    async def _one(self, kind: type[T], query: sa.Select[Any]) -> T | None:
        found = await self._all(kind, query.limit(1))
        return found[0] if found else None
