"""Guarded raw reads: SQL on the stores' tables and MongoDB reads on the market store.

A query is admitted by its structure (``guard_sql``, ``parse_request``) and then run where
it cannot write or hang (a read-only connection, a statement timeout, a row cap).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from petrosa_core.market.names import SQL_TABLE_NAMES as MARKET_TABLES
from petrosa_core.metadata.tables import TABLE_NAMES as METADATA_TABLES
from petrosa_core.rawquery._mongo_guard import MAX_REGEX_CHARS, MongoRead, parse_request
from petrosa_core.rawquery._mongo_guard import refused as _refused
from petrosa_core.rawquery._sql_guard import MAX_QUERY_CHARS, Dialect, GuardedSql, guard_sql
from petrosa_core.rawquery._sql_run import RawResult, SqlReader, open_reader


def _dialect(url: str) -> Dialect:
    return "sqlite" if sa.make_url(url).get_backend_name() == "sqlite" else "mysql"


class MongoQueries:
    """Raw reads on the market store's MongoDB database; pymongo loads only when used."""

    def __init__(self, url: str) -> None:
        from petrosa_core.rawquery._mongo_run import MongoReader

        self._reader = MongoReader.open(url)

    async def run(self, read: MongoRead, row_cap: int, time_limit: float) -> tuple[Any, bool]:
        return await self._reader.run(read, row_cap, time_limit)

    async def close(self) -> None:
        await self._reader.close()


class SqlQueries:
    """Raw reads over the metadata store and, when it is SQL, the market store.

    A query reads one store: its tables decide which (a query naming both is refused
    unless both stores are one database).
    """

    def __init__(self, metadata_url: str, market_url: str | None) -> None:
        self._targets: list[tuple[frozenset[str], Dialect, SqlReader]] = []
        if market_url is not None and market_url == metadata_url:
            both = METADATA_TABLES | MARKET_TABLES
            self._targets.append((both, _dialect(metadata_url), open_reader(metadata_url)))
            return
        self._targets.append((METADATA_TABLES, _dialect(metadata_url), open_reader(metadata_url)))
        if market_url is not None:
            self._targets.append((MARKET_TABLES, _dialect(market_url), open_reader(market_url)))

    async def run(
        self, query: str, params: Mapping[str, Any], row_cap: int, time_limit: float
    ) -> RawResult:
        allowed = frozenset().union(*(tables for tables, _, _ in self._targets))
        dialect = self._targets[0][1]
        guarded = guard_sql(query, dialect, allowed, row_cap)
        tables, dialect, reader = self._target(guarded)
        if dialect != self._targets[0][1]:
            guarded = guard_sql(query, dialect, tables, row_cap)
        missing = guarded.parameters - set(params)
        if missing:
            raise _refused(f"no value given for :{sorted(missing)[0]}")
        return await reader.run(guarded.sql, params, row_cap, time_limit)

    def _target(self, guarded: GuardedSql) -> tuple[frozenset[str], Dialect, SqlReader]:
        for target in self._targets:
            if guarded.tables <= target[0]:
                return target
        raise _refused(
            "a query reads the metadata tables or the market tables, not both: they live "
            "in different databases",
        )

    async def close(self) -> None:
        for _, _, reader in self._targets:
            await reader.close()


__all__ = [
    "MARKET_TABLES",
    "MAX_QUERY_CHARS",
    "MAX_REGEX_CHARS",
    "METADATA_TABLES",
    "MongoQueries",
    "MongoRead",
    "RawResult",
    "SqlQueries",
    "guard_sql",
    "parse_request",
]
