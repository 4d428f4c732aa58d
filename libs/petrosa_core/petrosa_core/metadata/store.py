"""The metadata store: catalog, lineage, audit findings, health, backfill jobs, schemas.

One SQLAlchemy ``AsyncEngine`` over SQLite (aiosqlite) or MariaDB/MySQL (asyncmy); the
schema is brought to the newest Alembic revision on open unless told not to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from petrosa_core import migrations
from petrosa_core.errors import StoreError
from petrosa_core.metadata._audit import AuditOps
from petrosa_core.metadata._base import Clock, translated_errors, wall_clock_ms
from petrosa_core.metadata._catalog import CatalogOps
from petrosa_core.metadata._jobs import JobOps

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "metadata_alembic_version"
# Concurrent writers from several processes wait this long for SQLite's write lock.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    # WAL lets readers in other processes go on while one process writes.
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, pool_pre_ping=True, pool_recycle=3600)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(parsed)
    sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class MetadataStore(CatalogOps, AuditOps, JobOps):
    """Every metadata operation the services need; each call is its own short transaction."""

    @classmethod
    async def open(
        cls, url: str, *, migrate: bool = True, clock: Clock = wall_clock_ms
    ) -> MetadataStore:
        """Connect to ``url`` and migrate to head (or, with ``migrate=False``, insist on head)."""
        with translated_errors():
            engine = _create_engine(url)
        try:
            with translated_errors():
                if migrate:
                    await migrations.upgrade(engine, MIGRATIONS, VERSION_TABLE)
                else:
                    await _require_head(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, clock)

    async def close(self) -> None:
        await self._engine.dispose()

    async def ping(self) -> None:
        """Round-trip to the database; raises ``StoreUnavailable`` when it cannot be reached."""
        async with self._read() as conn:
            await conn.execute(sa.text("SELECT 1"))


async def _require_head(engine: AsyncEngine) -> None:
    current = await migrations.current_revision(engine, VERSION_TABLE)
    head = migrations.head_revision(MIGRATIONS)
    if current != head:
        raise StoreError(f"metadata schema is at {current}, expected {head}: run migrations")
