"""The metadata store: catalog, lineage, audit findings, health, backfill jobs, schemas.

One SQLAlchemy ``AsyncEngine`` over SQLite (aiosqlite) or MariaDB/MySQL (asyncmy); the
schema is brought to the newest Alembic revision on open unless told not to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from petrosa_core import migrations
from petrosa_core._sql import create_engine, describe_pool, translated
from petrosa_core.errors import StoreError
from petrosa_core.metadata._audit import AuditOps
from petrosa_core.metadata._catalog import CatalogOps
from petrosa_core.metadata._jobs import JobOps
from petrosa_core.metadata._schemas import SchemaOps
from petrosa_core.times import Clock, now_ms

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "metadata_alembic_version"


class MetadataStore(CatalogOps, AuditOps, JobOps, SchemaOps):
    """Every metadata operation the services need; each call is its own short transaction."""

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True, clock: Clock = now_ms) -> MetadataStore:
        """Connect to ``url`` and migrate to head (or, with ``migrate=False``, insist on head)."""
        with translated():
            engine = create_engine(url, "METADATA_STORE_URL")
        try:
            with translated():
                if migrate:
                    await migrations.upgrade(engine, MIGRATIONS, VERSION_TABLE)
                else:
                    await _require_head(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, clock)

    def pool_status(self) -> dict[str, Any]:
        return describe_pool(self._engine)

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
        raise StoreError(f"metadata schema is at {current}, expected {head}: run petrosa migrate")
