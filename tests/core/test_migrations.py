"""Alembic migrations of the metadata store, on SQLite and MariaDB."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from petrosa_core.errors import StoreError
from petrosa_core.metadata import MIGRATIONS, VERSION_TABLE, MetadataStore, fingerprint
from petrosa_core.metadata._tables import datasets, metadata, schemas
from petrosa_core.migrations import current_revision, head_revision, upgrade

TABLES = {
    "audit_logs", "backfill_jobs", "datasets", "health_metrics", "lineage_records", "schemas",
    "schema_subjects", "documents",
}  # fmt: skip
# Tables that revisions after 0003 added or rebuilt: the 0001 -> head test looks past them.
REGISTRY_TABLES = {"schemas", "schema_subjects", "documents"}
INDEXES = {
    "ix_audit_logs_dataset_check_status", "ix_audit_logs_status", "ix_backfill_jobs_dataset_status",
    "ix_backfill_jobs_status_created", "ix_backfill_jobs_symbol_created", "ix_datasets_kind_symbol",
    "ix_datasets_symbol", "ix_health_metrics_dataset_measured", "ix_lineage_records_dataset_id",
    "ix_lineage_records_source",
}  # fmt: skip

PROBE_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "p1"
down_revision = None


def upgrade():
    op.create_table("probe", sa.Column("id", sa.Integer(), primary_key=True))
"""

OPEN_STORE = """
import asyncio, sys
from petrosa_core.metadata import MetadataStore

async def main() -> None:
    store = await MetadataStore.open(sys.argv[1])
    await store.close()

asyncio.run(main())
"""


@pytest.fixture(params=["sqlite", "mariadb"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "mysql_url"))


@pytest.fixture
async def engine(url: str) -> AsyncIterator[AsyncEngine]:
    created = create_async_engine(url)
    yield created
    await created.dispose()


def _diffs(conn: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return list(compare_metadata(context, metadata))


async def schema_diffs(engine: AsyncEngine) -> list[Any]:
    """What autogenerate would change to make the database match the table definitions."""
    async with engine.connect() as conn:
        return await conn.run_sync(_diffs)


def _table_of(diff: Any) -> str:
    if diff[0] in ("add_table", "remove_table"):
        return str(diff[1].name)
    if diff[0] in ("add_index", "remove_index"):
        return str(diff[1].table.name)
    return str(diff[2]) if diff[0] in ("add_column", "remove_column") else ""


async def version_rows(engine: AsyncEngine, table: str = VERSION_TABLE) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.text(f"SELECT version_num FROM {table}"))).scalars())


async def test_upgrade_from_empty_builds_the_defined_schema(engine: AsyncEngine) -> None:
    assert await current_revision(engine, VERSION_TABLE) is None
    await upgrade(engine, MIGRATIONS, VERSION_TABLE)
    assert await current_revision(engine, VERSION_TABLE) == head_revision(MIGRATIONS) == "0005"
    assert await schema_diffs(engine) == []
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    assert names == TABLES | {VERSION_TABLE}


async def test_upgrade_from_an_intermediate_revision_keeps_rows(engine: AsyncEngine) -> None:
    await upgrade(engine, MIGRATIONS, VERSION_TABLE, revision="0001")
    assert await current_revision(engine, VERSION_TABLE) == "0001"
    missing = [d for d in await schema_diffs(engine) if _table_of(d) not in REGISTRY_TABLES]
    indexes = {diff[1].name for diff in missing if diff[0] == "add_index"}
    columns = {diff[3].name for diff in missing if diff[0] == "add_column"}
    assert (indexes, columns) == (INDEXES, {"category", "update_frequency"})
    assert len(missing) == len(indexes) + len(columns)
    rows = [
        {
            "id": "trades:BTCUSDT", "kind": "trades", "symbol": "BTCUSDT", "interval": None,
            "source": "binance_ws", "description": "", "created_at": 1, "updated_at": 2,
        },
        {
            "id": "candles:BTCUSDT:5m", "kind": "candles", "symbol": "BTCUSDT", "interval": "5m",
            "source": "binance_rest", "description": "mine", "created_at": 1, "updated_at": 2,
        },
    ]  # fmt: skip
    async with engine.begin() as conn:
        await conn.execute(sa.insert(datasets), rows)

    await upgrade(engine, MIGRATIONS, VERSION_TABLE)
    assert await version_rows(engine) == ["0005"]
    assert await schema_diffs(engine) == []
    async with engine.connect() as conn:
        kept = [r._asdict() for r in await conn.execute(sa.select(datasets).order_by("id"))]
    assert kept == [
        rows[1] | {"category": "ohlcv", "update_frequency": "5m"},
        rows[0] | {
            "description": "BTCUSDT aggregate and raw trades from Binance USD-M futures",
            "category": "trades", "update_frequency": "realtime",
        },
    ]  # fmt: skip


async def test_upgrade_again_changes_nothing(engine: AsyncEngine) -> None:
    await upgrade(engine, MIGRATIONS, VERSION_TABLE)
    await upgrade(engine, MIGRATIONS, VERSION_TABLE)
    assert await version_rows(engine) == ["0005"]
    assert await schema_diffs(engine) == []


async def test_replicas_starting_together_migrate_once(url: str, engine: AsyncEngine) -> None:
    stores = await asyncio.gather(*(MetadataStore.open(url) for _ in range(4)))
    for store in stores:
        await store.close()
    assert await version_rows(engine) == ["0005"]
    assert await schema_diffs(engine) == []


async def test_replica_processes_starting_together_migrate_once(
    url: str, engine: AsyncEngine
) -> None:
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", OPEN_STORE, url)
        for _ in range(3)
    ]
    assert await asyncio.gather(*(p.wait() for p in procs)) == [0, 0, 0]
    assert await version_rows(engine) == ["0005"]
    assert await schema_diffs(engine) == []


async def test_two_histories_share_a_database(engine: AsyncEngine, tmp_path: Path) -> None:
    probe = tmp_path / "probe_migrations"
    (probe / "versions").mkdir(parents=True)
    (probe / "versions" / "p1_probe.py").write_text(PROBE_REVISION)
    await upgrade(engine, probe, "probe_alembic_version")
    await upgrade(engine, MIGRATIONS, VERSION_TABLE)
    assert await version_rows(engine, "probe_alembic_version") == ["p1"]
    assert await version_rows(engine) == ["0005"]
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    assert names == TABLES | {"probe", "probe_alembic_version", VERSION_TABLE}


async def test_a_database_ahead_of_the_scripts_is_refused(url: str, engine: AsyncEngine) -> None:
    await upgrade(engine, MIGRATIONS, VERSION_TABLE)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    with pytest.raises(StoreError, match="9999"):
        await MetadataStore.open(url)
    with pytest.raises(StoreError, match="run petrosa migrate"):
        await MetadataStore.open(url, migrate=False)


async def test_schemas_registered_before_0005_move_under_mongodb(engine: AsyncEngine) -> None:
    await upgrade(engine, MIGRATIONS, VERSION_TABLE, revision="0004")
    document = {"type": "object", "properties": {"close": {"type": "number"}}}
    old = sa.table(
        "schemas", sa.column("name"), sa.column("version"), sa.column("document", sa.JSON()),
        sa.column("created_at", sa.DateTime()),
    )  # fmt: skip
    created = datetime(2026, 1, 2, tzinfo=UTC).replace(tzinfo=None)  # stored as naive UTC
    async with engine.begin() as conn:
        values = {"name": "candles", "version": 1, "document": document, "created_at": created}
        await conn.execute(sa.insert(old).values(values))
    await upgrade(engine, MIGRATIONS, VERSION_TABLE)
    assert await schema_diffs(engine) == []
    async with engine.connect() as conn:
        rows = [r._asdict() for r in await conn.execute(sa.select(schemas))]
    assert rows == [
        {
            "store": "mongodb", "name": "candles", "version": 1, "document": document,
            "fingerprint": fingerprint(document), "description": "", "status": "active",
            "describes": "candles", "created_at": 1_767_312_000_000,
            "updated_at": 1_767_312_000_000,
        }
    ]  # fmt: skip
