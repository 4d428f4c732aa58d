"""Versioned schema migrations (Alembic) for the SQL stores, run programmatically.

Each store keeps its scripts in a package folder and its own version table, so the
market and metadata stores can share one database without sharing a history. Several
processes may start at once, so an upgrade runs under a database-wide lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, RevisionStep
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from petrosa_core.errors import StoreError, StoreUnavailable

# Long enough for any migration this project ships; a waiter that gives up reports why.
LOCK_TIMEOUT_SECONDS = 120
# Alembic's ``op`` and ``context`` are module-global proxies, so two upgrades interleaving in
# one event loop (say the market and metadata stores opened together) would mix their
# operations: in-process upgrades take turns.
_IN_PROCESS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _config(script_location: Path, version_table: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("version_table", version_table)
    return cfg


def _upgrade(connection: Connection, cfg: Config, revision: str) -> None:
    script = ScriptDirectory.from_config(cfg)

    # Alembic passes the current heads (a tuple) although _upgrade_revs is typed for str.
    def steps(heads: Any, context: MigrationContext) -> list[RevisionStep]:
        return script._upgrade_revs(revision, heads)

    with EnvironmentContext(cfg, script, fn=steps, destination_rev=revision) as env:
        env.configure(
            connection=connection,
            version_table=cfg.get_main_option("version_table") or "alembic_version",
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with env.begin_transaction():
            env.run_migrations()


@asynccontextmanager
async def _migration_lock(conn: AsyncConnection, version_table: str) -> AsyncIterator[None]:
    """Serialize upgrades of one history in one database across processes."""
    if conn.dialect.name == "sqlite":
        # SQLite DDL is transactional: the whole upgrade becomes one write transaction.
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield
        return
    if conn.dialect.name not in ("mysql", "mariadb"):
        yield
        return
    database = (await conn.execute(text("SELECT DATABASE()"))).scalar_one()
    # Lock names are server-wide and at most 64 characters.
    name = "petrosa_migrate_" + hashlib.sha1(f"{database}/{version_table}".encode()).hexdigest()
    got = await conn.scalar(text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": LOCK_TIMEOUT_SECONDS})
    if got != 1:
        raise StoreUnavailable(f"another process has been migrating {version_table} too long")
    try:
        yield
    finally:
        await conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
        await conn.commit()


async def upgrade(
    engine: AsyncEngine, script_location: Path, version_table: str, revision: str = "head"
) -> None:
    """Bring the schema at ``engine`` up to ``revision`` (idempotent, safe to run concurrently)."""
    cfg = _config(script_location, version_table)
    in_process = _IN_PROCESS.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with in_process, engine.connect() as conn, _migration_lock(conn, version_table):
        try:
            await conn.run_sync(_upgrade, cfg, revision)
        except CommandError as exc:  # e.g. the database is at a revision these scripts lack
            raise StoreError(f"cannot migrate {version_table}: {exc}") from exc
        await conn.commit()


def _current(connection: Connection, version_table: str) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": version_table})
    return context.get_current_revision()


async def current_revision(engine: AsyncEngine, version_table: str) -> str | None:
    """The revision the database at ``engine`` is at (None before the first upgrade)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current, version_table)


def head_revision(script_location: Path) -> str | None:
    """The newest revision the scripts define."""
    return ScriptDirectory.from_config(_config(script_location, "unused")).get_current_head()


__all__ = ["current_revision", "head_revision", "upgrade"]
